//! The AfterAllowTestTraffic hook: judges the deployment with the gate policy's `AfterAllowTestTraffic`
//! section and reports the verdict to CodeDeploy. Everything lives in the library.

// One thread: the evidence calls run concurrently on it, and a 128 MB function
// has a fraction of a vCPU, so worker threads would only add start-up and switches.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    metric_gate::lambda::serve(metric_gate::Hook::AfterAllowTestTraffic).await
}
