"""Test support shared by every suite (nothing here is a test):

* ``payloads``: builders of Unleash client API payloads (flags, strategies, constraints,
  variants, segments, deltas), their JSON text and ETag;
* ``server``: ``FakeUnleashServer``, the programmable stand-in for the Unleash server (scripted
  replies and faults, recorded requests, accepted metrics), and its replies;
* ``clients``: ``new_client`` and ``ClientFactory``, a client pointed at that server with test
  defaults (the ``make_client`` fixture of ``tests/conftest.py``);
* ``kinds``: ``Driven``, a client of either kind (``UnleashClient``, ``AsyncUnleashClient``)
  with the sync client's blocking lifecycle, so one test body tests both (the ``kind`` and
  ``make_driven`` fixtures of ``tests/conftest.py``), and ``LoopThread``;
* ``doubles``: ``DictCache`` (a user cache) and ``StubScheduler`` (a scheduler that runs
  nothing by itself);
* ``helpers``: ``wait_for``, ``free_port``, ``messages``, ``full_text``, ``app_log_lines``,
  ``frequent_thread_switches``, ``stopping_leftover_clients``, ``stop_without_flush``;
* ``fuzz``: the suite's Hypothesis profile and ``FUZZ``, the settings of thorough property
  tests.
"""
