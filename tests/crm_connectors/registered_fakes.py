"""Small connectors registered for the tests of this package (imported by its conftest, so every test here,
run alone or in any order, finds them in the registry)."""

from collections.abc import Iterator

from crm_connectors.base import ChangePage, Connector
from crm_connectors.registry import register


@register
class PagedTestConnector(Connector):
    """Two companies per page; can be told to blow up before a given page."""

    name = "test-paged"
    fail_before_page: int | None = None
    failure: type[BaseException] = RuntimeError

    def iter_changes(self, *, object_type, cursor, full) -> Iterator[ChangePage]:
        if object_type != "companies":
            return
        for page in range(cursor.get("page", -1) + 1, self.config["pages"]):
            if page == type(self).fail_before_page:
                raise type(self).failure("connection dropped")
            records = [{"external_id": f"c{page}-{i}", "name": f"Company {page}.{i}"} for i in range(2)]
            yield ChangePage("companies", records, cursor={"page": page})


@register
class TokenRotatingTestConnector(Connector):
    """Refreshes its OAuth token mid-sync (as a real connector would) and then fails the run."""

    name = "test-rotating"

    def iter_changes(self, *, object_type, cursor, full) -> Iterator[ChangePage]:
        if object_type != "companies":
            return
        self.credentials = {**self.credentials, "access_token": "new-access", "refresh_token": "rotated-refresh"}
        self.on_credentials_change(dict(self.credentials))
        raise RuntimeError("CRM went away after the refresh")
