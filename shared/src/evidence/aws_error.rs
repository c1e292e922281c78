//! AWS SDK errors as a person reads them, for records, logs and gatectl.
//!
//! The SDK's own `DisplayErrorContext` ends every message with the error's
//! Rust debug structure (`(ServiceError(ServiceError { source: ...`), which
//! is noise to an operator and can run past the record's bound before the
//! cause is named. Here a service's answer is its error code and message, as
//! the AWS CLI prints them, and any other failure (no connection, a timeout,
//! no credentials) the chain of its causes.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::error::Error;

/// `error` in one bounded line: `Code: message` for an error the service
/// answered; for an answer that could not be read (no error code in it, or a
/// body that does not decode), its HTTP status and why; else (no answer) each
/// cause in turn, `: `-separated.
pub fn aws_error<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: Error + ProvideErrorMetadata + 'static,
{
    let text = match error {
        SdkError::ServiceError(context) => {
            let service = context.err();
            match (service.code(), service.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                (None, _) => format!(
                    "could not read the service's answer (HTTP {}): {}",
                    context.raw().status().as_u16(),
                    causes(service)
                ),
            }
        }
        _ => causes(error),
    };
    super::bounded(text)
}

/// Each error in the chain from `error` down, `: `-separated; a cause whose
/// text its parent already ends with is not repeated.
fn causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let shown = cause.to_string();
        if !shown.is_empty() && !text.ends_with(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentError;
    use aws_sdk_codedeploy::types::error::DeploymentDoesNotExistException;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn response() -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty())
    }

    #[test]
    fn a_service_error_is_its_code_and_message_without_debug_structures() {
        let error: SdkError<GetDeploymentError, HttpResponse> = SdkError::service_error(
            GetDeploymentError::DeploymentDoesNotExistException(
                DeploymentDoesNotExistException::builder()
                    .message("The deployment d-UNKNOWN00 does not exist")
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("DeploymentDoesNotExistException")
                            .message("The deployment d-UNKNOWN00 does not exist")
                            .build(),
                    )
                    .build(),
            ),
            response(),
        );
        assert_eq!(
            aws_error(&error),
            "DeploymentDoesNotExistException: The deployment d-UNKNOWN00 does not exist"
        );
    }

    #[test]
    fn a_failure_to_reach_the_service_names_its_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error: SdkError<GetDeploymentError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        let text = aws_error(&error);
        assert!(text.contains("connection refused"), "{text}");
        assert!(
            !text.contains('{') && !text.contains("DispatchFailure"),
            "{text}"
        );
    }
}
