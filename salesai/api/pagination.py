from collections.abc import Callable
from functools import cached_property, partial
from typing import Any

from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class DefaultPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class _SeparatelyCountedPaginator(DjangoPaginator):
    """Pages `object_list` but counts `count_source`: the same rows, through a cheaper query."""

    def __init__(self, object_list: Any, per_page: int, *, count_source: QuerySet | None, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.count_source = count_source

    @cached_property
    def count(self) -> int:
        if self.count_source is None:
            return super().count
        return self.count_source.count()


class CheaperCountPagination(DefaultPagination):
    """For views whose list joins in columns that never change how many rows there are (a contact's current
    score: at most one current prediction each): the view's `pagination_count_queryset()` gives the rows
    without that join, or None when a filter needs it, and the page count comes from there."""

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list | None:
        counted: Callable[[], QuerySet | None] | None = getattr(view, "pagination_count_queryset", None)
        count_source = counted() if counted is not None else None
        self.django_paginator_class = partial(_SeparatelyCountedPaginator, count_source=count_source)
        return super().paginate_queryset(queryset, request, view)
