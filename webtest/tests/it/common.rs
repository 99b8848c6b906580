//! What the service's integration tests share: a real server on a fresh loopback port, and the
//! means to stop it gracefully and wait for it.

#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webtest::Stopped;

/// The future a server waits on: it completes when the test calls [`Running::begin_shutdown`].
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A running server, and the means to stop it.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<io::Result<Stopped>>,
}

impl Running {
    /// Serves on a fresh loopback port: `serve` gets the listener and the signal to stop on,
    /// and is one of the service's entry points (`serve`, `serve_router`, `serve_router_with`).
    pub async fn spawn<S, F>(serve: S) -> Running
    where
        S: FnOnce(TcpListener, StopSignal) -> F,
        F: Future<Output = io::Result<Stopped>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let signal: StopSignal = Box::pin(async move {
            let _ = stopped.await;
        });
        Running {
            addr,
            stop: Some(stop),
            task: tokio::spawn(serve(listener, signal)),
        }
    }

    /// Triggers graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
    }

    /// Waits for the server to stop, failing the test if that takes longer than `limit`.
    pub async fn stopped_within(self, limit: Duration) -> Stopped {
        tokio::time::timeout(limit, self.task)
            .await
            .expect("the server did not stop in time")
            .unwrap()
            .unwrap()
    }
}
