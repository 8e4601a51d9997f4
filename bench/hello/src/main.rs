//! The smallest lambda_http function: answers every HTTP event with 200 "hello". The init
//! benchmark measures the PGM functions against it. The runtime is `#[tokio::main]`'s
//! multi-thread one, as in lambda_http's own examples.

use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Ok::<_, Error>("hello")
    }))
    .await
}
