//! The same hello world on a one-thread tokio runtime, as the PGM functions run: the init
//! benchmark reports the functions against it too, so that the runtime flavour is not what
//! makes the difference look small.

use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Ok::<_, Error>("hello")
    }))
    .await
}
