"""Cron schedules: fire each active river on its 5-field UTC cron, once per due time."""
