//! The shared behaviour suite (`wirelane-testkit`) against the async-std adapter, on
//! async-std's global executor.

use std::future::Future;

struct AsyncStd;

impl wirelane_testkit::Harness for AsyncStd {
    type Runtime = wirelane_async_std::AsyncStdRuntime;
    const NAME: &'static str = "async-std";

    fn runtime() -> Self::Runtime {
        wirelane_async_std::AsyncStdRuntime
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        async_std::task::block_on(fut)
    }
}

wirelane_testkit::behaviour_suite!(AsyncStd);
wirelane_testkit::behaviour_suite!(tls AsyncStd);
