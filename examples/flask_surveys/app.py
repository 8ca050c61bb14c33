"""A small surveys app (create, list, delete), the scenario of the Unleash Python tutorial.

The flag ``delete_survey_flag`` shows the Delete buttons on the list page and gates the
delete route, which answers 404 while the flag is off. Without ``UNLEASH_URL`` in the
environment the app runs offline from ``flags.json`` next to this file; with ``UNLEASH_URL``
(and ``UNLEASH_API_TOKEN``) it follows your Unleash server. See README.md.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.wrappers import Response

from unleash_lite.flask import Unleash, feature_required

HERE = Path(__file__).resolve().parent
BOOTSTRAP_FILE = HERE / "flags.json"
DELETE_FLAG = "delete_survey_flag"


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
unleash = Unleash()


class Survey(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``config_overrides`` win over the defaults and the environment."""
    app = Flask(__name__, instance_path=str(HERE / "instance"))
    app.config.update(
        # A random key per start is enough for a demo (sessions end at restart).
        SECRET_KEY=os.environ.get("SURVEYS_SECRET_KEY") or secrets.token_hex(16),
        SQLALCHEMY_DATABASE_URI=os.environ.get("SURVEYS_DATABASE_URI", "sqlite:///surveys.db"),
        SURVEYS_DELETE_FLAG=DELETE_FLAG,  # the flag's name (the tests use unique ones)
        UNLEASH_APP_NAME="flask-surveys",
        UNLEASH_URL=os.environ.get("UNLEASH_URL", ""),
        UNLEASH_API_TOKEN=os.environ.get("UNLEASH_API_TOKEN"),
    )
    app.config.update(config_overrides or {})
    if not app.config["UNLEASH_URL"]:
        app.config.setdefault("UNLEASH_BOOTSTRAP", str(BOOTSTRAP_FILE))  # offline
    db.init_app(app)
    unleash.init_app(app)
    with app.app_context():
        db.create_all()
    register_views(app, app.config["SURVEYS_DELETE_FLAG"])
    return app


def register_views(app: Flask, delete_flag: str) -> None:
    @app.context_processor
    def flag_names() -> dict[str, str]:
        return {"delete_flag": delete_flag}

    @app.get("/")
    def index() -> Response:
        return redirect(url_for("list_surveys"))

    @app.get("/surveys")
    def list_surveys() -> str:
        surveys = db.session.scalars(db.select(Survey).order_by(Survey.id.desc())).all()
        return render_template("surveys.html", surveys=surveys)

    @app.route("/surveys/new", methods=["GET", "POST"])
    def new_survey() -> str | Response | tuple[str, int]:
        if request.method == "GET":
            return render_template("new_survey.html", title="", description="")
        title = request.form.get("title", "").strip()
        description = request.form.get("description", "").strip()
        if not title:
            flash("A survey needs a title.")
            return render_template("new_survey.html", title=title, description=description), 400
        db.session.add(Survey(title=title, description=description))
        db.session.commit()
        flash(f"Created the survey “{title}”.")
        return redirect(url_for("list_surveys"))

    @app.post("/surveys/<int:survey_id>/delete")
    @feature_required(delete_flag)  # 404 while the flag is off, whatever the page showed
    def delete_survey(survey_id: int) -> Response:
        survey = db.get_or_404(Survey, survey_id)
        db.session.delete(survey)
        db.session.commit()
        flash(f"Deleted the survey “{survey.title}”.")
        return redirect(url_for("list_surveys"))
