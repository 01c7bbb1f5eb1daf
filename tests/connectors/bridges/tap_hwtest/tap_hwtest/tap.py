"""A Singer tap for Headwater's tests: pages through /items of the test HTTP server.

Bearer auth with the secret setting ``api_token``; incremental on ``updated_at`` (sent as
``updated_since``); ``fail_after`` makes it crash after that many records (a connector that
dies mid-stream). The items come sorted by ``updated_at`` and a ``STATE`` message follows
every 25 records, so a run resumes from the last state committed before it stopped.
"""

from __future__ import annotations

import sys
from typing import Any

from singer_sdk import RESTStream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import BaseAPIPaginator


class PagePaginator(BaseAPIPaginator[int]):
    def get_next(self, response: Any) -> int | None:
        return response.json().get("next_page")


class Items(RESTStream[int]):
    name = "items"
    path = "/items"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = True
    STATE_MSG_FREQUENCY = 25
    records_jsonpath = "$.items[*]"
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("updated_at", th.DateTimeType),
        th.Property("tags", th.ArrayType(th.StringType)),
        th.Property(
            "owner",
            th.ObjectType(th.Property("login", th.StringType), th.Property("age", th.IntegerType)),
        ),
    ).to_dict()
    seen = 0

    @property
    def url_base(self) -> str:
        return str(self.config["base_url"])

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(self, token=self.config["api_token"])

    def get_new_paginator(self) -> PagePaginator:
        return PagePaginator(1)

    def get_url_params(self, context: Any, next_page_token: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"page": next_page_token or 1}
        start = self.get_starting_replication_key_value(context)
        if start:
            params["updated_since"] = start
        return params

    def post_process(self, row: dict[str, Any], context: Any = None) -> dict[str, Any]:
        self.seen += 1
        fail_after = self.config.get("fail_after")
        if fail_after is not None and self.seen > int(fail_after):
            sys.stdout.flush()
            raise RuntimeError(f"tap-hwtest: failing on purpose after {fail_after} records")
        return row


class TapHwTest(Tap):
    name = "tap-hwtest"
    config_jsonschema = th.PropertiesList(
        th.Property("base_url", th.StringType, required=True),
        th.Property("api_token", th.StringType, required=True, secret=True),
        th.Property("fail_after", th.IntegerType),
    ).to_dict()

    def discover_streams(self) -> list[Items]:
        return [Items(self)]
