//! The shared behaviour suite (`wirelane-testkit`) against the smol adapter, on an
//! executor of the test's own (the `SmolRuntime::new` path), run by two threads of its
//! own plus whichever thread is blocking on a server.

use std::future::Future;
use std::sync::{Arc, OnceLock};

struct Smol;

/// One executor for the whole test binary: cases may call `runtime()` from any thread
/// (e.g. to spawn a task from a handler), so it must be running independently of them.
fn executor() -> Arc<smol::Executor<'static>> {
    static EXECUTOR: OnceLock<Arc<smol::Executor<'static>>> = OnceLock::new();
    EXECUTOR
        .get_or_init(|| {
            let ex = Arc::new(smol::Executor::new());
            for i in 0..2 {
                let ex = ex.clone();
                std::thread::Builder::new()
                    .name(format!("smol-test-{i}"))
                    .spawn(move || smol::block_on(ex.run(smol::future::pending::<()>())))
                    .expect("executor thread");
            }
            ex
        })
        .clone()
}

impl wirelane_testkit::Harness for Smol {
    type Runtime = wirelane_smol::SmolRuntime;
    const NAME: &'static str = "smol";

    fn runtime() -> Self::Runtime {
        wirelane_smol::SmolRuntime::new(executor())
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        smol::block_on(executor().run(fut))
    }
}

wirelane_testkit::behaviour_suite!(Smol);
wirelane_testkit::behaviour_suite!(tls Smol);
