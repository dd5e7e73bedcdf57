"""HubSpot rate-limit signals read off responses."""

import datetime as dt

import httpx
import pytest

from crm_connectors.http import QuotaExhausted, RateBudget
from crm_connectors.hubspot.client import rate_limit_watcher


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def response(status=200, headers=None, body=None):
    return httpx.Response(status, headers=headers or {}, json=body or {}, request=httpx.Request("GET", "http://h.test"))


def test_daily_policy_429_stops_with_a_resume_time():
    with pytest.raises(QuotaExhausted) as info:
        rate_limit_watcher(None)(response(429, body={"policyName": "DAILY", "errorType": "RATE_LIMIT"}))
    assert info.value.resume_after > dt.datetime.now(dt.UTC)
    rate_limit_watcher(None)(response(429, body={"policyName": "TEN_SECONDLY_ROLLING"}))  # retried, not fatal


def test_burst_remaining_zero_pauses_the_shared_budget():
    clock = Clock()
    budget = RateBudget(per_second=100, burst=100, clock=clock, sleep=clock.sleep)
    rate_limit_watcher(budget)(
        response(headers={"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
    )
    budget.acquire()
    assert clock.t == pytest.approx(10.0)


def test_daily_remaining_zero_refuses_further_calls():
    budget = RateBudget(per_second=None)
    rate_limit_watcher(budget)(response(headers={"X-HubSpot-RateLimit-Daily-Remaining": "0"}))
    with pytest.raises(QuotaExhausted):
        budget.acquire()
