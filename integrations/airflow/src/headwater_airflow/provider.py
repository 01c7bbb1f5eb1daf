"""What Airflow's ProvidersManager reads: the ``headwater`` connection type and its form."""

from __future__ import annotations

from typing import Any

HOOK = "headwater_airflow.hooks.HeadwaterHook"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "headwater-airflow",
        "name": "Headwater",
        "description": "Trigger and watch Headwater rivers (data flows) from Airflow.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "Headwater",
                "external-doc-url": "https://github.com/headwater/headwater",
                "tags": ["service"],
            }
        ],
        "operators": [
            {"integration-name": "Headwater", "python-modules": ["headwater_airflow.operators"]}
        ],
        "sensors": [
            {"integration-name": "Headwater", "python-modules": ["headwater_airflow.sensors"]}
        ],
        "hooks": [{"integration-name": "Headwater", "python-modules": ["headwater_airflow.hooks"]}],
        "triggers": [
            {"integration-name": "Headwater", "python-modules": ["headwater_airflow.triggers"]}
        ],
        "connection-types": [
            {
                "hook-class-name": HOOK,
                "hook-name": "Headwater",
                "connection-type": "headwater",
                "conn-fields": {
                    "account_id": {
                        "label": "Account id",
                        "schema": {"type": ["string", "null"]},
                        "description": "Default: the token's account (asked from /api/me).",
                    },
                    "environment_id": {
                        "label": "Environment id",
                        "schema": {"type": ["string", "null"]},
                        "description": "Default: the token's first environment.",
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["integer", "null"], "default": 30},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API token"},
                    "placeholders": {
                        "host": "https://headwater.example.com",
                        "password": "the token from Settings > API tokens",
                    },
                },
            }
        ],
    }
