//! The AfterAllowTestTraffic hook: judges the deployment with the gate policy's `AfterAllowTestTraffic`
//! section and reports the verdict to CodeDeploy. Everything lives in the library.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    metric_gate::lambda::serve(metric_gate::Hook::AfterAllowTestTraffic).await
}
