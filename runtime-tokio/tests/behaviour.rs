//! The shared behaviour suite (`wirelane-testkit`) against the tokio adapter.

use std::future::Future;

struct Tokio;

impl wirelane_testkit::Harness for Tokio {
    type Runtime = wirelane_tokio::TokioRuntime;
    const NAME: &'static str = "tokio";

    fn runtime() -> Self::Runtime {
        wirelane_tokio::TokioRuntime
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(fut)
    }
}

wirelane_testkit::behaviour_suite!(Tokio);
wirelane_testkit::behaviour_suite!(tls Tokio);
