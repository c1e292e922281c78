//! The CloudWatch metrics provider: `GetMetricData` for datapoints, `ListMetrics`
//! for preflight existence checks.
//!
//! Every query of a hook goes into one `GetMetricData` request (the API takes 500;
//! more are split into further calls), and every `NextToken` page is followed, so
//! the number of round trips does not grow with the number of gates. The
//! provider reports CloudWatch's own per-series status untouched; what
//! `PartialData` means for a verdict is the judge's business.

use super::{
    Datapoint, EvidenceError, MetricData, MetricIdentity, MetricRequest, MetricSource, RawSeries,
    SeriesStatus,
};
use crate::policy::MetricQuery;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy,
    StatusCode,
};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::DateTime;
use std::collections::BTreeMap;

/// `GetMetricData` accepts at most this many queries per call.
const MAX_QUERIES_PER_CALL: usize = 500;
/// A hostile or buggy endpoint could hand out `NextToken`s forever.
const MAX_PAGES: usize = 100;
const SERVICE: &str = "CloudWatch";

/// CloudWatch metrics through the AWS SDK.
#[derive(Debug, Clone)]
pub struct CloudWatchMetrics {
    client: Client,
}

impl CloudWatchMetrics {
    /// Wraps a configured client (retries and timeouts are the client's).
    pub fn new(client: Client) -> Self {
        CloudWatchMetrics { client }
    }

    async fn fetch_chunk(
        &self,
        request: &MetricRequest,
        offset: usize,
        chunk: &[MetricQuery],
        data: &mut MetricData,
    ) -> Result<(), EvidenceError> {
        let queries: Vec<MetricDataQuery> = chunk
            .iter()
            .enumerate()
            .map(|(i, q)| to_sdk_query(&format!("q{}", offset + i), q))
            .collect();
        let mut by_id = BTreeMap::new();
        let mut next_token: Option<String> = None;
        for page in 0.. {
            if page == MAX_PAGES {
                return Err(malformed(
                    "GetMetricData",
                    format!(
                        "still paging after {MAX_PAGES} pages; refusing to follow NextToken \
                         further"
                    ),
                ));
            }
            let output = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_secs(request.range.start))
                .end_time(DateTime::from_secs(request.range.end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| api("GetMetricData", &crate::evidence::aws_error(&e)))?;
            let more = output.next_token().is_some();
            for result in output.metric_data_results() {
                add_result(&mut by_id, result, offset, chunk, more)?;
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => break,
            }
        }
        add_series(by_id, offset, chunk, data);
        Ok(())
    }
}

impl MetricSource for CloudWatchMetrics {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        let mut data = MetricData::new();
        for (n, chunk) in request.queries.chunks(MAX_QUERIES_PER_CALL).enumerate() {
            self.fetch_chunk(request, n * MAX_QUERIES_PER_CALL, chunk, &mut data)
                .await?;
        }
        Ok(data)
    }

    async fn metric_exists(&self, metric: &MetricIdentity) -> Result<bool, EvidenceError> {
        let filters: Vec<DimensionFilter> = metric
            .dimensions
            .iter()
            .map(|(name, value)| DimensionFilter::builder().name(name).value(value).build())
            .collect();
        let mut next_token = None;
        for _ in 0..MAX_PAGES {
            let output = self
                .client
                .list_metrics()
                .namespace(&metric.namespace)
                .metric_name(&metric.metric_name)
                .set_dimensions(Some(filters.clone()))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| api("ListMetrics", &crate::evidence::aws_error(&e)))?;
            let exact = output.metrics().iter().any(|m| {
                let mut dims: Vec<(String, String)> = m
                    .dimensions()
                    .iter()
                    .map(|d| {
                        (
                            d.name().unwrap_or_default().to_string(),
                            d.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                dims.sort();
                dims == metric.dimensions
            });
            if exact {
                return Ok(true);
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(false),
            }
        }
        Err(malformed(
            "ListMetrics",
            format!("still paging after {MAX_PAGES} pages"),
        ))
    }
}

/// A query's series as read so far: datapoints, status, messages.
type PartialSeries = (Vec<Datapoint>, SeriesStatus, Vec<String>);

/// Adds one page's result for a query of `chunk` (ids `q{offset}` on) to what
/// was read so far; `more` says the page has a successor.
fn add_result(
    by_id: &mut BTreeMap<String, PartialSeries>,
    result: &MetricDataResult,
    offset: usize,
    chunk: &[MetricQuery],
    more: bool,
) -> Result<(), EvidenceError> {
    let id = result.id().unwrap_or_default().to_string();
    let index: usize = id
        .strip_prefix('q')
        .and_then(|n| n.parse().ok())
        // Exactly an id asked for: `q01` or `q+1` is not `q1`.
        .filter(|n: &usize| (offset..offset + chunk.len()).contains(n) && id == format!("q{n}"))
        .ok_or_else(|| {
            malformed(
                "GetMetricData",
                format!("a result for query id {id:?}, which was never asked for"),
            )
        })?;
    let timestamps = result.timestamps();
    let values = result.values();
    if timestamps.len() != values.len() {
        return Err(malformed(
            "GetMetricData",
            format!(
                "query {id} has {} timestamps but {} values",
                timestamps.len(),
                values.len()
            ),
        ));
    }
    let entry = by_id
        .entry(id.clone())
        .or_insert_with(|| (Vec::new(), SeriesStatus::Complete, Vec::new()));
    entry.0.extend(
        timestamps
            .iter()
            .map(DateTime::secs)
            .zip(values.iter().copied()),
    );
    entry.2.extend(
        result
            .messages()
            .iter()
            .filter_map(|m| m.value())
            .map(str::to_string),
    );
    let previous = std::mem::replace(&mut entry.1, SeriesStatus::Complete);
    entry.1 = next_status(previous, result.status_code(), more, &chunk[index - offset]);
    Ok(())
}

/// A series' status after one more page of it: `previous` is its status so
/// far, `code` the page's `StatusCode`, `more` whether the page has a
/// successor. The one rule for CloudWatch's statuses, also applied by the
/// export reader of `gatectl backtest` (`evidence::export`) to the entries the
/// AWS CLI joins from the pages it read.
pub(crate) fn next_status(
    previous: SeriesStatus,
    code: Option<&StatusCode>,
    more: bool,
    query: &MetricQuery,
) -> SeriesStatus {
    match code {
        // A page CloudWatch failed is never forgotten by a later one.
        _ if matches!(previous, SeriesStatus::Failed(_)) => previous,
        Some(StatusCode::Complete) | None => previous,
        // PartialData on a page that has a successor only means "read on".
        Some(StatusCode::PartialData) if more => SeriesStatus::Complete,
        Some(StatusCode::PartialData) => SeriesStatus::PartialData,
        Some(other) => {
            SeriesStatus::Failed(format!("CloudWatch status {} for {query}", other.as_str()))
        }
    }
}

/// Every query of `chunk` into `data`: its series as read, or a failed one
/// when CloudWatch returned nothing for it.
fn add_series(
    mut by_id: BTreeMap<String, PartialSeries>,
    offset: usize,
    chunk: &[MetricQuery],
    data: &mut MetricData,
) {
    for (i, query) in chunk.iter().enumerate() {
        let id = format!("q{}", offset + i);
        let series = match by_id.remove(&id) {
            Some((points, status, messages)) => RawSeries {
                points,
                status,
                messages,
            },
            None => RawSeries {
                points: Vec::new(),
                status: SeriesStatus::Failed(format!("CloudWatch returned no result for {query}")),
                messages: Vec::new(),
            },
        };
        data.insert(query.clone(), series);
    }
}

fn to_sdk_query(id: &str, query: &MetricQuery) -> MetricDataQuery {
    let dimensions = query
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    let metric = Metric::builder()
        .namespace(&query.namespace)
        .metric_name(&query.metric_name)
        .set_dimensions(Some(dimensions))
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(query.period_secs as i32)
        .stat(&query.stat)
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(stat)
        .return_data(true)
        .build()
}

fn api(operation: &'static str, error: &dyn std::fmt::Display) -> EvidenceError {
    EvidenceError::Api {
        service: SERVICE,
        operation,
        message: super::bounded(error.to_string()),
    }
}

fn malformed(operation: &'static str, message: String) -> EvidenceError {
    EvidenceError::Malformed {
        service: SERVICE,
        operation,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> MetricQuery {
        let policy = crate::policy::Policy::embedded_default(&|name| match name {
            "TARGET_GROUP" => Some("targetgroup/green/0123456789abcdef".into()),
            "LOAD_BALANCER" => Some("app/web/fedcba9876543210".into()),
            _ => None,
        })
        .expect("the embedded default policy");
        let section = policy
            .hook(crate::Hook::BeforeAllowTraffic)
            .expect("a section");
        section
            .gates
            .iter()
            .find_map(|gate| match &gate.check {
                crate::policy::GateCheck::Threshold(check) => check.queries().next().cloned(),
                _ => None,
            })
            .expect("a query")
    }

    /// A failure on one page is never forgotten by a later page: the worst
    /// status of a series' pages is its status.
    #[test]
    fn a_failed_page_stays_failed_whatever_the_later_pages_say() {
        let query = query();
        let failed = next_status(
            SeriesStatus::Complete,
            Some(&StatusCode::Forbidden),
            true,
            &query,
        );
        assert!(matches!(failed, SeriesStatus::Failed(_)), "{failed:?}");
        for (code, more) in [
            (Some(StatusCode::PartialData), true),
            (Some(StatusCode::PartialData), false),
            (Some(StatusCode::Complete), false),
            (None, false),
        ] {
            let after = next_status(failed.clone(), code.as_ref(), more, &query);
            assert_eq!(after, failed, "{code:?} (more: {more})");
        }
        // A partial last page stays partial; a partial page read on is not.
        assert_eq!(
            next_status(
                SeriesStatus::Complete,
                Some(&StatusCode::PartialData),
                true,
                &query
            ),
            SeriesStatus::Complete
        );
        assert_eq!(
            next_status(
                SeriesStatus::Complete,
                Some(&StatusCode::PartialData),
                false,
                &query
            ),
            SeriesStatus::PartialData
        );
    }
}
