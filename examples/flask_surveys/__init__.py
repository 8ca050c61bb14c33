"""The surveys app of the Unleash Python tutorial, on unleash_lite's Flask integration."""
