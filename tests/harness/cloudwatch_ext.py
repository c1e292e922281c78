"""CloudWatch operations the emulator answers itself, on moto's own storage.

Why not moto's implementations (checked against moto 5.2.5's source and by
calling them):
- GetMetricData: percentile stats ("p95") are not computed; moto's Statistics
  returns None and its serializer then fails with HTTP 500.  Buckets start at
  StartTime instead of on period boundaries; a query with dimensions drops the
  namespace check and compares dimension lists via a broken __lt__; a query
  without dimensions matches every dimension set; MaxDatapoints/NextToken are
  ignored.
- ListMetrics: lists a metric once per stored value (its de-duplication only
  works for single-dimension metrics), so Values/Counts data shows up N times.
- PutCompositeAlarm: not implemented in moto (HTTP 500), although moto's
  alarm model and DescribeAlarms know composite alarms; added here on top of
  moto's backend.

Everything else (PutMetricData, PutMetricAlarm, SetAlarmState, DescribeAlarms,
...) stays moto's.  The datapoints live only in moto's
CloudWatchBackend.metric_data, written by the real PutMetricData: moto stores
one MetricDatum per value (Values x Counts expanded; a fractional count is
truncated, int(1.5) copies = 1) and one MetricAggregatedDatum per
StatisticValues entry, with naive UTC datetimes.

How GetMetricData finds datapoints: moto keeps one flat list of datums per
backend, 1000 of them for a single minute of a Values/Counts latency
distribution, and a scan of that list per query cost a hook's five-query call
15 ms against ten minutes of ALB data.  _StoredMetrics groups the list by
metric and timestamp instead, extended with what was appended since the last
call (moto only ever appends to CloudWatchBackend.metric_data; a reset gives
the backend a new list, which is then grouped from scratch).  Every datum keeps
its position in moto's list, so a bucket sees its datums in the same order as a
scan would and sums come out bit for bit the same.

Statistic definitions used here:
- SampleCount / Sum / Average / Minimum / Maximum over every datum in the
  bucket, StatisticValues sets included.
- pNN (p50, p95, p99.9, ...): nearest-rank percentile over the single values
  in the bucket, i.e. the ceil(NN/100 * n)-th smallest value, so the answer is
  always an observed value (values 1..100 give p95 = 95).  StatisticValues sets
  carry no distribution and are ignored; a bucket holding only those has no
  percentile datapoint.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from datetime import datetime, timezone
from itertools import chain
from operator import itemgetter
from typing import Any, Iterable

from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum, cloudwatch_backends

from aws_protocol import ApiError, AwsCall

PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")  # as the API: at most two decimals
BASIC_STATS = {"SampleCount", "Sum", "Average", "Minimum", "Maximum"}
QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
HIGH_RESOLUTION_PERIODS = {1, 5, 10, 20, 30}
DEFAULT_MAX_DATAPOINTS = 100_800  # the real API's default

# A test may make GetMetricData page sooner than the real default when the
# request sets no MaxDatapoints, so a client's NextToken loop runs on a
# hook-sized window (POST /_harness/cloudwatch/page-size).
_page_size: int | None = None


def set_page_size(datapoints: int | None) -> None:
    """Default page size for requests without MaxDatapoints; None restores the API's."""
    global _page_size
    if datapoints is not None and (not isinstance(datapoints, int) or isinstance(datapoints, bool) or datapoints <= 0):
        raise ValueError("datapoints must be a positive integer or null")
    _page_size = datapoints
# Values GetMetricData serves in place of what the stored datums give, one
# period of one metric each (POST /_harness/cloudwatch/served-values): NaN and
# the infinities, which PutMetricData refuses (as the real API does, so they
# cannot be seeded) but which a broken proxy, an export or a future API bug
# could hand a hook, and any other value for a period. Cleared by a reset.
_served: list[dict[str, Any]] = []
_SPECIAL_VALUES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def serve_values(entries: Any) -> list[dict[str, Any]]:
    """Adds served values: each {"namespace", "metric_name", "dimensions"?:
    {name: value} (absent: any), "stat"? (absent: any), "timestamp": epoch
    seconds (any instant in the period), "value": a number or "NaN",
    "Infinity", "-Infinity"}. Returns them as stored."""
    if not isinstance(entries, list) or not entries:
        raise ValueError("values must be a non-empty list")
    parsed = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("each value must be an object")
        namespace, name = entry.get("namespace"), entry.get("metric_name")
        timestamp, value = entry.get("timestamp"), entry.get("value")
        dimensions, stat = entry.get("dimensions"), entry.get("stat")
        if not isinstance(namespace, str) or not isinstance(name, str):
            raise ValueError("namespace and metric_name are required strings")
        if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
            raise ValueError("timestamp must be epoch seconds")
        if isinstance(value, str):
            if value not in _SPECIAL_VALUES:
                raise ValueError(f"value {value!r}: a number, or one of {sorted(_SPECIAL_VALUES)}")
            number = _SPECIAL_VALUES[value]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            raise ValueError("value must be a number or a string such as \"NaN\"")
        if dimensions is not None and not (isinstance(dimensions, dict) and all(isinstance(v, str) for v in dimensions.values())):
            raise ValueError("dimensions must map names to string values")
        if stat is not None and not isinstance(stat, str):
            raise ValueError("stat must be a string")
        parsed.append(
            {
                "namespace": namespace,
                "metric_name": name,
                "dimensions": None if dimensions is None else frozenset(dimensions.items()),
                "stat": stat,
                "timestamp": float(timestamp),
                "value": number,
            }
        )
    with _stored_lock:
        _served.extend(parsed)
    return [{**p, "dimensions": None if p["dimensions"] is None else dict(p["dimensions"]), "value": str(p["value"])} for p in parsed]


def refuse_special_values(params: dict[str, Any]) -> None:
    """PutMetricData as the real API checks it: "special values (for example,
    NaN, +Infinity, -Infinity) are not supported", nor anything beyond 2^360
    (moto stores them all). Raises the API's InvalidParameterValue."""
    for index, datum in enumerate(params.get("MetricData") or [], start=1):
        where = f"MetricData.member.{index}"
        stats = datum.get("StatisticValues") or {}
        numbers = [(f"{where}.Value", datum.get("Value"))]
        numbers += [(f"{where}.Values.member.{i}", v) for i, v in enumerate(datum.get("Values") or [], start=1)]
        numbers += [(f"{where}.StatisticValues.{k}", stats.get(k)) for k in ("SampleCount", "Sum", "Minimum", "Maximum")]
        for name, value in numbers:
            if isinstance(value, (int, float)) and not (math.isfinite(value) and abs(value) <= 2.0**360):
                raise ApiError(400, "InvalidParameterValue", f"The value {value} for parameter {name} is invalid.")


def clear_served_values() -> None:
    with _stored_lock:
        _served.clear()


def _with_served(key: MetricKey, stat: str, period: int, start: float, end: float, points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """`points` (oldest first) with the served values for this query's metric
    and statistic in place of, or added to, what the datums gave."""
    namespace, name, dimensions = key
    served = {
        int(entry["timestamp"] // period) * period: entry["value"]
        for entry in _served
        if entry["namespace"] == namespace
        and entry["metric_name"] == name
        and entry["dimensions"] in (None, dimensions)
        and entry["stat"] in (None, stat)
        and start <= entry["timestamp"] < end
    }
    if not served:
        return points
    merged = dict(points)
    merged.update(served)
    return sorted(merged.items())


LIST_METRICS_PAGE = 500  # the real API's page size
RECENTLY_ACTIVE_SECONDS = 3 * 3600  # RecentlyActive=PT3H


def _validation(message: str) -> ApiError:
    return ApiError(400, "ValidationError", message)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _datums(call: AwsCall) -> list[Any]:
    # get_all_metrics() also includes metrics other moto services publish.
    return cloudwatch_backends[call.account][call.region].get_all_metrics()


# A metric is its namespace + name + exact dimension set.
MetricKey = tuple[Any, Any, frozenset[tuple[Any, Any]]]
# A metric's datums by timestamp (epoch seconds), each with its position in
# storage order: {epoch: [(position, datum), ...]}.
Timeline = dict[float, list[tuple[int, Any]]]


def _group(datums: Iterable[Any], first_position: int, metrics: dict[MetricKey, Timeline]) -> None:
    """Files datums under their metric and timestamp, numbering them from first_position."""
    for position, datum in enumerate(datums, start=first_position):
        key = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
        metrics.setdefault(key, {}).setdefault(_epoch(datum.timestamp), []).append((position, datum))


class _StoredMetrics:
    """One backend's CloudWatchBackend.metric_data, grouped (see the module docstring)."""

    def __init__(self, source: list[Any]) -> None:
        self.source = source
        self.grouped = 0  # how many of source's datums are in `metrics`
        self.last: Any = None  # source[grouped - 1], to notice a list rewritten in place
        self.metrics: dict[MetricKey, Timeline] = {}

    def describes(self, source: list[Any]) -> bool:
        """Whether source is the list grouped here, grown only by appends since."""
        return (
            source is self.source
            and len(source) >= self.grouped
            and (self.grouped == 0 or source[self.grouped - 1] is self.last)
        )

    def catch_up(self) -> None:
        end = len(self.source)
        if end > self.grouped:
            _group(self.source[self.grouped : end], self.grouped, self.metrics)
            self.grouped = end
            self.last = self.source[end - 1]


_stored_lock = threading.Lock()
_stored: dict[tuple[str, str], _StoredMetrics] = {}  # (account, region) -> grouping


def forget_stored_metrics() -> None:
    """Drops every grouping (after a reset), so old datums are not kept alive."""
    with _stored_lock:
        _stored.clear()


def group_stored_metrics(call: AwsCall) -> None:
    """Brings the caller's grouping up to date (after a PutMetricData)."""
    try:
        with _stored_lock:
            _stored_metrics(call)
    except KeyError:  # a region moto has no backend for; moto has said so
        pass


def _stored_metrics(call: AwsCall) -> _StoredMetrics:
    """The up-to-date grouping of the caller's backend; the caller holds _stored_lock."""
    source = cloudwatch_backends[call.account][call.region].metric_data
    stored = _stored.get((call.account, call.region))
    if stored is None or not stored.describes(source):
        stored = _stored[(call.account, call.region)] = _StoredMetrics(source)
    stored.catch_up()
    return stored


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "InvalidNextToken", "The service cannot complete the request: NextToken is invalid.")
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "InvalidNextToken", "The service cannot complete the request: NextToken is invalid.")
    return offset


def statistic(stat: str, datums: list[Any]) -> float | None:
    """One statistic over the datums of one bucket; None = no datapoint."""
    singles = [d.value for d in datums if isinstance(d, MetricDatum)]
    sets = [d for d in datums if isinstance(d, MetricAggregatedDatum)]
    count = len(singles) + sum(s.sample_count for s in sets)
    if stat == "SampleCount":
        return float(count)
    if stat in ("Sum", "Average"):
        total = sum(singles) + sum(s.sum for s in sets)
        if stat == "Sum":
            return float(total)
        return total / count if count else None
    if stat == "Minimum":
        return min(singles + [s.min for s in sets])
    if stat == "Maximum":
        return max(singles + [s.max for s in sets])
    # A percentile (validated by the caller).
    if not singles:
        return None
    ordered = sorted(singles)
    rank = math.ceil(float(stat[1:]) / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def _validate_query(index: int, query: dict[str, Any], seen_ids: set[str]) -> None:
    where = f"MetricDataQueries.member.{index}"
    query_id = query.get("Id", "")
    if not QUERY_ID.match(query_id):
        raise _validation(f"The value {query_id!r} for parameter {where}.Id is invalid: it must start with a lowercase letter and contain only letters, digits and underscores.")
    if query_id in seen_ids:
        raise _validation(f"The value {query_id!r} for parameter {where}.Id is not unique.")
    seen_ids.add(query_id)
    if query.get("Expression") is not None:
        raise _validation(f"Query {query_id!r}: metric math / Metrics Insights Expression queries are not supported by this emulator.")
    metric_stat = query.get("MetricStat")
    if not metric_stat:
        raise _validation(f"The parameter {where}.MetricStat is required.")
    period = metric_stat.get("Period")
    if not isinstance(period, int) or period <= 0 or (period % 60 and period not in HIGH_RESOLUTION_PERIODS):
        raise _validation(f"The parameter {where}.MetricStat.Period must be 1, 5, 10, 20, 30 or a multiple of 60.")
    stat = metric_stat.get("Stat", "")
    if stat not in BASIC_STATS and not PERCENTILE.match(stat):
        raise _validation(f"The value {stat!r} for parameter {where}.MetricStat.Stat is not supported by this emulator (use SampleCount, Sum, Average, Minimum, Maximum or pNN).")


def get_metric_data(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
    start, end = params.get("StartTime"), params.get("EndTime")
    if start is None or end is None:
        raise _validation("The parameters StartTime and EndTime are required.")
    if start >= end:
        raise _validation("The parameter StartTime must be less than the parameter EndTime.")
    queries = params.get("MetricDataQueries") or []
    if not 1 <= len(queries) <= 500:
        raise _validation("MetricDataQueries must contain between 1 and 500 queries.")
    scan_by = params.get("ScanBy") or "TimestampDescending"
    if scan_by not in ("TimestampDescending", "TimestampAscending"):
        raise _validation(f"The value {scan_by!r} for parameter ScanBy is invalid.")
    max_datapoints = params.get("MaxDatapoints") or _page_size or DEFAULT_MAX_DATAPOINTS
    if max_datapoints <= 0:
        raise _validation("The parameter MaxDatapoints must be greater than 0.")
    offset = _decode_token(params.get("NextToken"))

    seen_ids: set[str] = set()
    for index, query in enumerate(queries, start=1):
        _validate_query(index, query, seen_ids)

    # Metrics other moto services publish are computed on every read; they
    # come after the stored datums, as in CloudWatchBackend.get_all_metrics().
    backend = cloudwatch_backends[call.account][call.region]
    published: dict[MetricKey, Timeline] = {}
    series: list[tuple[dict[str, Any], list[tuple[int, float]]]] = []
    with _stored_lock:
        stored = _stored_metrics(call)
        _group(backend.aws_metric_data, stored.grouped, published)
        for query in queries:
            if query.get("ReturnData") is False:
                continue
            metric_stat = query["MetricStat"]
            metric = metric_stat.get("Metric", {})
            period, stat, unit = metric_stat["Period"], metric_stat["Stat"], metric_stat.get("Unit")
            dimensions = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
            key = (metric.get("Namespace"), metric.get("MetricName"), dimensions)
            # Buckets are aligned on multiples of the period since the epoch;
            # StartTime inclusive, EndTime exclusive.
            buckets: dict[int, list[list[tuple[int, Any]]]] = {}
            for timeline in (stored.metrics.get(key, {}), published.get(key, {})):
                for t, entries in timeline.items():
                    if start <= t < end:
                        buckets.setdefault(int(t // period) * period, []).append(entries)
            points = []
            for bucket in sorted(buckets):
                runs = buckets[bucket]
                entries = runs[0] if len(runs) == 1 else sorted(chain.from_iterable(runs), key=itemgetter(0))
                group = [datum for _, datum in entries if unit is None or datum.unit == unit]
                if group and (value := statistic(stat, group)) is not None:
                    points.append((bucket, value))
            points = _with_served(key, stat, period, start, end, points)
            if scan_by == "TimestampDescending":
                points.reverse()
            series.append((query, points))

    # MaxDatapoints counts datapoints across all queries; a page is a window
    # [offset, offset + MaxDatapoints) over the queries' points laid end to end.
    total = sum(len(points) for _, points in series)
    page_end = offset + max_datapoints
    truncated = page_end < total
    results, position = [], 0
    for query, points in series:
        low = min(max(offset - position, 0), len(points))
        high = min(max(page_end - position, 0), len(points))
        position += len(points)
        window = points[low:high]
        results.append(
            {
                "Id": query["Id"],
                "Label": query.get("Label") or query["MetricStat"]["Metric"].get("MetricName"),
                "Timestamps": [ts for ts, _ in window],
                "Values": [value for _, value in window],
                "StatusCode": "PartialData" if truncated else "Complete",
            }
        )
    output: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
    if truncated:
        output["NextToken"] = _encode_token(page_end)
    return output


def list_metrics(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
    namespace, name = params.get("Namespace"), params.get("MetricName")
    filters = params.get("Dimensions") or []
    if any("Name" not in f for f in filters):
        raise _validation("Every ListMetrics dimension filter needs a Name.")
    cutoff = time.time() - RECENTLY_ACTIVE_SECONDS if params.get("RecentlyActive") else None

    metrics: dict[tuple[Any, ...], dict[str, Any]] = {}
    for datum in _datums(call):
        if namespace and datum.namespace != namespace or name and datum.name != name:
            continue
        if cutoff is not None and _epoch(datum.timestamp) < cutoff:
            continue
        pairs = [(d.name, d.value) for d in datum.dimensions]
        if not all(any(n == f["Name"] and f.get("Value") in (None, v) for n, v in pairs) for f in filters):
            continue
        key = (datum.namespace, datum.name, frozenset(pairs))
        metrics.setdefault(
            key,
            {"Namespace": datum.namespace, "MetricName": datum.name, "Dimensions": [{"Name": n, "Value": v} for n, v in pairs]},
        )

    listed = list(metrics.values())
    offset = _decode_token(params.get("NextToken"))
    output: dict[str, Any] = {"Metrics": listed[offset : offset + LIST_METRICS_PAGE]}
    if offset + LIST_METRICS_PAGE < len(listed):
        output["NextToken"] = _encode_token(offset + LIST_METRICS_PAGE)
    return output


def put_composite_alarm(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("AlarmName") or not params.get("AlarmRule"):
        raise _validation("The parameters AlarmName and AlarmRule are required.")
    # moto stores a composite alarm as an Alarm whose `rule` is set.
    cloudwatch_backends[call.account][call.region].put_metric_alarm(
        name=params["AlarmName"],
        namespace=None,
        metric_name=None,
        comparison_operator=None,
        evaluation_periods=None,
        period=None,
        threshold=None,
        statistic=None,
        description=params.get("AlarmDescription"),
        dimensions=[],
        alarm_actions=params.get("AlarmActions", []),
        ok_actions=params.get("OKActions", []),
        insufficient_data_actions=params.get("InsufficientDataActions", []),
        actions_enabled=params.get("ActionsEnabled"),
        rule=params["AlarmRule"],
        tags=params.get("Tags", []),
    )
    return {}


HANDLERS = {"GetMetricData": get_metric_data, "ListMetrics": list_metrics, "PutCompositeAlarm": put_composite_alarm}
