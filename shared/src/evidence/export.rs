//! Exported CloudWatch data as a metric source: what `gatectl backtest`
//! replays through a hook's pipeline.
//!
//! An export is what the real AWS CLI writes for `aws cloudwatch
//! get-metric-data --output json`, made with the queries of `gatectl backtest
//! --print-queries`, whose ids ([`query_id`]) map each series back to the
//! policy's query. Reading is two steps, as for a policy: [`RawExport`] is the
//! file as serde reads it, and [`ExportReader`] validates it against the
//! queries a hook needs, file by file, into [`MetricData`]:
//!
//! - ids match exactly (`q1`, never `q01`, `q+1` or `Q1`): a loose match
//!   would judge one query's data as another's;
//! - every query the hook needs has a series: a missing one is an error
//!   naming it, never an empty series its gate would read as "no errors";
//! - each series' `StatusCode` goes through the CloudWatch provider's own rule
//!   ([`super::cloudwatch`]), so a gate judges an export as the hook would
//!   judge the same answer: `PartialData` cannot pass, `Forbidden` and the
//!   like are errors. The AWS CLI joins the pages of a paginated answer into
//!   one list, so an entry followed by another entry of the same id was on a
//!   page with a successor;
//! - a timestamp is RFC 3339 with its zone, or epoch seconds, between
//!   CloudWatch's launch and 2200; anything else is an error naming the file,
//!   the series and the value.
//!
//! [`ExportSource`] answers the pipeline's requests from the validated data:
//! each query's points sorted once, each request sliced by binary search, so a
//! replay reads each point a bounded number of times. Nothing else is in an
//! export: alarms, the deployment and its discovery answer with an error that
//! says so, and the judge fails their gates closed.

use super::cloudwatch::next_status;
use super::{
    AlarmSource, AlarmStates, DeploymentInfo, DeploymentSource, EvidenceError, MetricData,
    MetricIdentity, MetricRequest, MetricSource, RawSeries, SeriesStatus,
};
use crate::bind::Discovery;
use crate::policy::MetricQuery;
use crate::vocab::TimeRange;
use aws_sdk_cloudwatch::types::StatusCode;
use serde::Deserialize;
use std::collections::BTreeSet;

/// From CloudWatch's launch (2006-01-01) to 2200: a datapoint outside is no
/// datapoint's time, and would make a replay span centuries.
pub const PLAUSIBLE_TIMES: std::ops::Range<i64> = 1_136_073_600..7_258_118_400;

/// Messages kept per series: a replay copies them into every evaluation.
const MAX_MESSAGES: usize = 20;

/// Characters of a value quoted in an error: an error names the value, it
/// does not carry a hostile file to the terminal.
const MAX_QUOTED: usize = 60;

/// The id of the query at `index` of a hook's plan in an export: what
/// `--print-queries` writes and the only spelling the reader accepts.
pub fn query_id(index: usize) -> String {
    format!("q{index}")
}

/// The AWS CLI's JSON output of `get-metric-data`, as serde reads it; other
/// fields (`Messages`, `Label`, a `NextToken`) are left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawExport {
    /// One entry per query and page, in the order the AWS CLI wrote them.
    pub metric_data_results: Vec<RawExportSeries>,
}

/// One entry of `MetricDataResults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawExportSeries {
    /// The query's id, as the export's queries named it.
    pub id: String,
    /// ISO 8601 strings (AWS CLI v2, or v1 with `cli_timestamp_format =
    /// iso8601`) or epoch numbers (AWS CLI v1's default, the wire value).
    #[serde(default)]
    pub timestamps: Vec<serde_json::Value>,
    /// One value per timestamp.
    #[serde(default)]
    pub values: Vec<f64>,
    /// `Complete`, `PartialData`, `Forbidden`, `InternalError`, ...
    pub status_code: Option<String>,
    /// CloudWatch's messages about this series.
    #[serde(default)]
    pub messages: Vec<RawMessage>,
}

/// A message attached to a series.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawMessage {
    /// e.g. `MaxDatapointsExceeded`.
    pub code: Option<String>,
    /// The message's text.
    pub value: Option<String>,
}

impl RawExport {
    /// Reads an export's text (step one: shape only).
    pub fn parse(text: &str) -> Result<RawExport, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Why an export cannot be replayed. Each names the file and the series.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Not JSON, or not shaped like `get-metric-data`'s output.
    #[error(
        "{file} is not the JSON output of aws cloudwatch get-metric-data --output json: {message}"
    )]
    NotAnExport {
        /// The file.
        file: String,
        /// serde's message, with line and column.
        message: String,
    },
    /// An id that is not exactly one of the hook's queries.
    #[error("{file}: series id {id} is not one of this hook's queries ({expected}); export with the queries of gatectl backtest --print-queries")]
    UnknownId {
        /// The file.
        file: String,
        /// The id, quoted and cut.
        id: String,
        /// The ids the hook's queries have.
        expected: String,
    },
    /// `Timestamps` and `Values` of different lengths.
    #[error("{file}: series {id} ({query}) has {timestamps} timestamps but {values} values")]
    Lengths {
        /// The file.
        file: String,
        /// The series' id.
        id: String,
        /// The query it holds.
        query: String,
        /// How many timestamps.
        timestamps: usize,
        /// How many values.
        values: usize,
    },
    /// A timestamp that is no instant a datapoint can have.
    #[error(
        "{file}: series {id} ({query}): timestamp {value} (number {position} of the series) {why}"
    )]
    Timestamp {
        /// The file.
        file: String,
        /// The series' id.
        id: String,
        /// The query it holds.
        query: String,
        /// Its place in `Timestamps`, from 1.
        position: usize,
        /// The value as written (JSON), cut.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Two values for the same query and period (overlapping exports that
    /// disagree).
    #[error("{files}: series {id} ({query}) has two values at {at}: {first} and {second}; the exports overlap and disagree")]
    Conflict {
        /// The files read.
        files: String,
        /// The series' id.
        id: String,
        /// The query it holds.
        query: String,
        /// The timestamp, epoch seconds.
        at: i64,
        /// One value.
        first: f64,
        /// The other.
        second: f64,
    },
    /// A query the hook needs with no series in any file.
    #[error("{files}: no series {id} ({query}), which the hook's gates need; export with the queries of gatectl backtest --print-queries")]
    Missing {
        /// The files read.
        files: String,
        /// The query's id.
        id: String,
        /// The query.
        query: String,
    },
}

/// Validates exports against the queries a hook needs (step two), file by
/// file; [`ExportReader::finish`] checks that every query was found.
#[derive(Debug)]
pub struct ExportReader<'q> {
    queries: &'q [MetricQuery],
    series: Vec<Option<RawSeries>>,
    files: Vec<String>,
}

impl<'q> ExportReader<'q> {
    /// A reader for a hook's queries, in the plan's order (the order of
    /// their ids).
    pub fn new(queries: &'q [MetricQuery]) -> Self {
        ExportReader {
            queries,
            series: vec![None; queries.len()],
            files: Vec::new(),
        }
    }

    /// Reads one export's text; `file` names it in errors.
    pub fn read(&mut self, file: &str, text: &str) -> Result<(), ExportError> {
        let raw = RawExport::parse(text).map_err(|error| ExportError::NotAnExport {
            file: file.to_string(),
            // serde quotes a mistyped value whole: cut it.
            message: super::bounded(error.to_string()),
        })?;
        self.add(file, raw)
    }

    /// Reads one export from a stream (parsed as it is read, so the text is
    /// never held whole); `file` names it in errors.
    pub fn read_from(&mut self, file: &str, stream: impl std::io::Read) -> Result<(), ExportError> {
        let raw: RawExport =
            serde_json::from_reader(stream).map_err(|error| ExportError::NotAnExport {
                file: file.to_string(),
                message: super::bounded(error.to_string()),
            })?;
        self.add(file, raw)
    }

    /// Adds one parsed export; `file` names it in errors. Nothing is added
    /// when it is refused.
    pub fn add(&mut self, file: &str, raw: RawExport) -> Result<(), ExportError> {
        let indexes = raw
            .metric_data_results
            .iter()
            .map(|entry| {
                self.index(&entry.id).ok_or_else(|| ExportError::UnknownId {
                    file: file.to_string(),
                    id: quote(&serde_json::Value::from(entry.id.as_str())),
                    expected: match self.queries.len() {
                        1 => "q0".to_string(),
                        n => format!("q0 to {}", query_id(n - 1)),
                    },
                })
            })
            .collect::<Result<Vec<usize>, _>>()?;
        // The last entry of each query in this file: any earlier one was on a
        // page the AWS CLI read a successor of.
        let mut last = vec![usize::MAX; self.queries.len()];
        for (position, index) in indexes.iter().enumerate() {
            last[*index] = position;
        }
        let mut read: Vec<Option<RawSeries>> = vec![None; self.queries.len()];
        for (position, (entry, index)) in raw.metric_data_results.iter().zip(&indexes).enumerate() {
            let query = &self.queries[*index];
            let id = query_id(*index);
            if entry.timestamps.len() != entry.values.len() {
                return Err(ExportError::Lengths {
                    file: file.to_string(),
                    id,
                    query: query.to_string(),
                    timestamps: entry.timestamps.len(),
                    values: entry.values.len(),
                });
            }
            let series = read[*index].get_or_insert_with(|| {
                self.series[*index].clone().unwrap_or(RawSeries {
                    points: Vec::new(),
                    status: SeriesStatus::Complete,
                    messages: Vec::new(),
                })
            });
            series.points.reserve(entry.values.len());
            for (n, (stamp, value)) in entry.timestamps.iter().zip(&entry.values).enumerate() {
                let at = parse_stamp(stamp).map_err(|why| ExportError::Timestamp {
                    file: file.to_string(),
                    id: id.clone(),
                    query: query.to_string(),
                    position: n + 1,
                    value: quote(stamp),
                    why,
                })?;
                series.points.push((at, *value));
            }
            let code = entry.status_code.as_deref().map(StatusCode::from);
            let more = position != last[*index];
            let previous = std::mem::replace(&mut series.status, SeriesStatus::Complete);
            series.status = next_status(previous, code.as_ref(), more, query);
            for message in &entry.messages {
                let text = match (&message.code, &message.value) {
                    (Some(code), Some(value)) => format!("{code}: {value}"),
                    (Some(text), None) | (None, Some(text)) => text.clone(),
                    (None, None) => continue,
                };
                let text = super::bounded(text);
                if series.messages.len() < MAX_MESSAGES && !series.messages.contains(&text) {
                    series.messages.push(text);
                }
            }
        }
        for (index, series) in read.into_iter().enumerate() {
            if let Some(series) = series {
                self.series[index] = Some(series);
            }
        }
        self.files.push(file.to_string());
        Ok(())
    }

    /// The data of every query, each series sorted by time, or the first
    /// query no file had a series for.
    pub fn finish(self) -> Result<MetricData, ExportError> {
        let mut data = MetricData::new();
        for (index, (query, series)) in self.queries.iter().zip(self.series).enumerate() {
            let Some(mut series) = series else {
                return Err(ExportError::Missing {
                    files: self.files.join(", "),
                    id: query_id(index),
                    query: query.to_string(),
                });
            };
            series
                .points
                .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            // The same point twice (overlapping exports) counts once; two
            // values for one instant cannot both be CloudWatch's.
            series
                .points
                .dedup_by(|b, a| a.0 == b.0 && a.1.total_cmp(&b.1).is_eq());
            if let Some(pair) = series.points.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(ExportError::Conflict {
                    files: self.files.join(", "),
                    id: query_id(index),
                    query: query.to_string(),
                    at: pair[0].0,
                    first: pair[0].1,
                    second: pair[1].1,
                });
            }
            data.insert(query.clone(), series);
        }
        Ok(data)
    }

    /// The query an id names, spelled exactly as [`query_id`] writes it.
    fn index(&self, id: &str) -> Option<usize> {
        let digits = id.strip_prefix('q')?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical {
            return None;
        }
        digits.parse().ok().filter(|i| *i < self.queries.len())
    }
}

/// A JSON value as written, cut to [`MAX_QUOTED`] characters.
fn quote(value: &serde_json::Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(MAX_QUOTED) {
        None => text,
        Some((cut, _)) => format!("{}... ({} more bytes)", &text[..cut], text.len() - cut),
    }
}

/// A timestamp as the AWS CLI prints it: RFC 3339 with its zone
/// (`2026-11-23T10:04:00+00:00`, `...Z`, fractions allowed) or epoch seconds;
/// `Err` says what is wrong with it.
pub fn parse_stamp(value: &serde_json::Value) -> Result<i64, &'static str> {
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;
    let secs = match value {
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor())
            .filter(|f| (PLAUSIBLE_TIMES.start as f64..PLAUSIBLE_TIMES.end as f64).contains(f))
            .map(|f| f as i64)
            .ok_or("is not epoch seconds between 2006 and 2200")?,
        serde_json::Value::String(text) => match OffsetDateTime::parse(text, &Rfc3339) {
            Ok(at) => at.unix_timestamp(),
            Err(_) if OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339).is_ok() => {
                return Err("has no time zone: write it with one (...Z or ...+00:00), as the AWS CLI does, so no instant is guessed")
            }
            Err(_) => return Err("is not an ISO 8601 (RFC 3339) date-time with a zone, such as 2026-11-23T10:04:00+00:00, nor epoch seconds"),
        },
        _ => return Err("is neither an ISO 8601 date-time string nor epoch seconds"),
    };
    if !PLAUSIBLE_TIMES.contains(&secs) {
        return Err("is not a time between 2006 and 2200");
    }
    Ok(secs)
}

/// The export as an evidence source: each query's datapoints sorted once, and
/// each request answered with the points in its range.
#[derive(Debug)]
pub struct ExportSource {
    data: MetricData,
    /// Every datapoint's time across the series, sorted, each once: where the
    /// replay finds the spans no window holds a datapoint of.
    times: Vec<i64>,
}

impl ExportSource {
    /// The source of `data` (each series is sorted here, whatever its order).
    pub fn new(mut data: MetricData) -> Self {
        let mut times = BTreeSet::new();
        for series in data.values_mut() {
            series.points.sort_by_key(|(t, _)| *t);
            times.extend(series.points.iter().map(|(t, _)| *t));
        }
        ExportSource {
            data,
            times: times.into_iter().collect(),
        }
    }

    /// The data, by query.
    pub fn data(&self) -> &MetricData {
        &self.data
    }

    /// The first and the last datapoint's time; `None` without any.
    pub fn span(&self) -> Option<(i64, i64)> {
        Some((*self.times.first()?, *self.times.last()?))
    }

    /// The time of the first datapoint at or after `at`, of any series.
    pub fn next_time(&self, at: i64) -> Option<i64> {
        let i = self.times.partition_point(|t| *t < at);
        self.times.get(i).copied()
    }

    /// Whether any series has a datapoint in `range`.
    pub fn any_in(&self, range: TimeRange) -> bool {
        self.next_time(range.start).is_some_and(|t| t < range.end)
    }
}

fn not_in_export(service: &'static str, operation: &'static str, what: &str) -> EvidenceError {
    EvidenceError::Api {
        service,
        operation,
        message: format!("a backtest replays exported metrics only: {what} is not in the export"),
    }
}

impl MetricSource for ExportSource {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        Ok(request
            .queries
            .iter()
            .filter_map(|query| {
                let series = self.data.get(query)?;
                let from = series
                    .points
                    .partition_point(|(t, _)| *t < request.range.start);
                let to = series
                    .points
                    .partition_point(|(t, _)| *t < request.range.end);
                let window = RawSeries {
                    points: series.points[from..to.max(from)].to_vec(),
                    status: series.status.clone(),
                    messages: series.messages.clone(),
                };
                Some((query.clone(), window))
            })
            .collect())
    }

    async fn metric_exists(&self, metric: &MetricIdentity) -> Result<bool, EvidenceError> {
        Ok(self.data.iter().any(|(query, series)| {
            &MetricIdentity::from(query) == metric && !series.points.is_empty()
        }))
    }
}

impl AlarmSource for ExportSource {
    async fn alarm_states(&self, _names: &[String]) -> Result<AlarmStates, EvidenceError> {
        Err(not_in_export(
            "CloudWatch",
            "DescribeAlarms",
            "an alarm's state",
        ))
    }
}

impl DeploymentSource for ExportSource {
    async fn deployment(&self, _id: &str) -> Result<DeploymentInfo, EvidenceError> {
        Err(not_in_export(
            "CodeDeploy",
            "GetDeployment",
            "the deployment",
        ))
    }

    async fn discover(&self, _id: &str) -> Result<Discovery, EvidenceError> {
        Err(not_in_export("CodeDeploy", "discovery", "the deployment"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn queries() -> Vec<MetricQuery> {
        ["Errors", "Latency"]
            .iter()
            .map(|name| MetricQuery {
                namespace: "App".into(),
                metric_name: (*name).into(),
                dimensions: vec![("Service".into(), "web".into())],
                stat: "Sum".into(),
                period_secs: 60,
                kind: crate::policy::SeriesKind::Counter,
            })
            .collect()
    }

    fn read(text: &serde_json::Value) -> Result<MetricData, ExportError> {
        let queries = queries();
        let mut reader = ExportReader::new(&queries);
        reader.read("x.json", &text.to_string())?;
        reader.finish()
    }

    fn entry(id: &str, stamps: serde_json::Value, status: &str) -> serde_json::Value {
        let n = stamps.as_array().map_or(0, Vec::len);
        json!({"Id": id, "Timestamps": stamps, "Values": vec![1.0; n], "StatusCode": status})
    }

    #[test]
    fn parses_aws_cli_timestamps() {
        let at = 1_795_428_240;
        for good in [
            json!("2026-11-23T10:04:00+00:00"),
            json!("2026-11-23T10:04:00Z"),
            json!("2026-11-23T11:04:00+01:00"),
            json!("2026-11-23T10:04:00.500Z"),
            json!(at),
            json!(at as f64 + 0.5),
        ] {
            assert_eq!(parse_stamp(&good), Ok(at), "{good}");
        }
        assert!(parse_stamp(&json!("2026-11-23T10:04:00"))
            .unwrap_err()
            .contains("no time zone"));
        // Found by probing: these used to overflow or loop for billions of steps.
        for absurd in [
            json!("yesterday"),
            json!(null),
            json!(0),
            json!(1e11),
            json!(1e300),
            json!(-5),
            json!("1900-01-01T00:00:00Z"),
            json!([]),
        ] {
            assert!(parse_stamp(&absurd).is_err(), "{absurd}");
        }
    }

    #[test]
    fn ids_are_matched_exactly() {
        let reader_queries = queries();
        let reader = ExportReader::new(&reader_queries);
        assert_eq!(reader.index("q0"), Some(0));
        assert_eq!(reader.index("q1"), Some(1));
        for loose in [
            "q01", "q+1", "Q1", "q1 ", " q1", "q", "q2", "q-0", "q00", "1", "",
        ] {
            assert_eq!(reader.index(loose), None, "{loose:?}");
        }
    }

    #[test]
    fn statuses_follow_the_hooks_rule() {
        let stamps = json!(["2026-11-23T10:04:00Z"]);
        let data = read(&json!({"MetricDataResults": [
            entry("q0", stamps.clone(), "Forbidden"),
            entry("q1", stamps.clone(), "PartialData"),
        ]}))
        .unwrap();
        let statuses: Vec<_> = data.values().map(|s| s.status.clone()).collect();
        assert!(matches!(&statuses[0], SeriesStatus::Failed(m) if m.contains("Forbidden")));
        assert_eq!(statuses[1], SeriesStatus::PartialData);
        // Joined pages: PartialData followed by the same id reads on.
        let data = read(&json!({"MetricDataResults": [
            entry("q0", json!(["2026-11-23T10:05:00Z"]), "PartialData"),
            entry("q1", stamps.clone(), "Complete"),
            entry("q0", stamps.clone(), "Complete"),
        ]}))
        .unwrap();
        assert!(data.values().all(|s| s.status == SeriesStatus::Complete));
        assert_eq!(data.values().next().unwrap().points.len(), 2);
    }

    #[test]
    fn a_missing_query_and_a_conflict_are_errors() {
        let stamps = json!(["2026-11-23T10:04:00Z"]);
        let error = read(&json!({"MetricDataResults": [entry("q0", stamps.clone(), "Complete")]}))
            .unwrap_err();
        assert!(
            matches!(error, ExportError::Missing { ref id, .. } if id == "q1"),
            "{error}"
        );
        let error = read(&json!({"MetricDataResults": [
            entry("q0", stamps.clone(), "Complete"),
            entry("q1", stamps.clone(), "Complete"),
            {"Id": "q1", "Timestamps": stamps, "Values": [2.0], "StatusCode": "Complete"},
        ]}))
        .unwrap_err();
        assert!(matches!(error, ExportError::Conflict { .. }), "{error}");
    }

    #[test]
    fn errors_quote_values_briefly() {
        let long = "q".repeat(10_000);
        let error = read(&json!({"MetricDataResults": [entry(&long, json!([]), "Complete")]}))
            .unwrap_err()
            .to_string();
        assert!(error.len() < 400, "{error}");
    }

    #[test]
    fn the_source_slices_by_time() {
        let queries = queries();
        let mut data = MetricData::new();
        for q in &queries {
            data.insert(
                q.clone(),
                RawSeries {
                    points: vec![(300, 3.0), (60, 1.0), (120, 2.0)],
                    status: SeriesStatus::Complete,
                    messages: vec![],
                },
            );
        }
        let source = ExportSource::new(data);
        assert_eq!(source.span(), Some((60, 300)));
        assert_eq!(source.next_time(121), Some(300));
        assert!(source.any_in(TimeRange {
            start: 100,
            end: 121
        }));
        assert!(!source.any_in(TimeRange {
            start: 121,
            end: 300
        }));
        let request = MetricRequest {
            range: TimeRange {
                start: 60,
                end: 300,
            },
            queries: queries.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = runtime.block_on(source.metric_data(&request)).unwrap();
        assert_eq!(got[&queries[0]].points, vec![(60, 1.0), (120, 2.0)]);
    }
}
