//! The ECS-native lifecycle hook: one function for every stage of an Amazon
//! ECS blue/green, linear or canary deployment. It judges the stage with the
//! gate policy's section of that name and answers ECS by return value
//! (`hookStatus`). Everything lives in the library.

// One thread, as the CodeDeploy hooks: the evidence calls run concurrently on it.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    metric_gate::lambda::ecs::serve().await
}
