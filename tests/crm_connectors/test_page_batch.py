import pytest

from crm_connectors.base import ChangePage
from crm_connectors.page_batch import pages_batched


def page(records=(), deleted=(), cursor=None, complete=None):
    return ChangePage(
        "contacts",
        records=[{"external_id": r, "first_name": name} for r, name in records],
        deleted_external_ids=list(deleted),
        cursor=cursor or {},
        complete_id_set=complete,
    )


def test_small_pages_merge_until_the_limit_and_keep_the_last_cursor():
    pages = [page([(f"c{i}", "x")], cursor={"after": i}) for i in range(5)]
    merged = list(pages_batched(pages, max_records=2))
    assert [len(p.records) for p in merged] == [2, 2, 1]
    assert [p.cursor for p in merged] == [{"after": 1}, {"after": 3}, {"after": 4}]


def test_a_later_page_wins_for_the_same_record():
    pages = [
        page([("a", "old"), ("b", "kept")]),
        page(deleted=["a"]),
        page([("a", "back again")]),
        page(deleted=["b"]),
    ]
    (merged,) = pages_batched(pages, max_records=100)
    assert merged.records == [{"external_id": "a", "first_name": "back again"}]
    assert merged.deleted_external_ids == ["b"]


def test_a_complete_id_set_closes_its_batch():
    pages = [page([("a", "x")]), page([("b", "y")], complete=frozenset({"a", "b"})), page([("c", "z")])]
    merged = list(pages_batched(pages, max_records=100))
    assert [p.complete_id_set for p in merged] == [frozenset({"a", "b"}), None]


def test_fetched_pages_are_handed_over_before_a_failure_propagates():
    def failing():
        yield page([("a", "x")], cursor={"after": 1})
        yield page([("b", "y")], cursor={"after": 2})
        raise ConnectionError("CRM went away")

    batches = pages_batched(failing(), max_records=100)
    first = next(batches)
    assert [r["external_id"] for r in first.records] == ["a", "b"] and first.cursor == {"after": 2}
    with pytest.raises(ConnectionError):
        next(batches)


def test_listed_ids_are_concatenated_and_a_completed_listing_closes_its_batch():
    first, second, after = page([("a", "x")]), page([("b", "y")]), page([("c", "z")])
    first.listed_external_ids, second.listed_external_ids = ["a", "gone-from-page"], ["b"]
    second.listing_complete = True
    merged = list(pages_batched([first, second, after], max_records=100))
    assert [(p.listed_external_ids, p.listing_complete) for p in merged] == [
        (["a", "gone-from-page", "b"], True),
        (None, False),
    ]
