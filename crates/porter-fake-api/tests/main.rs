//! Drives the fake API server with real kube-rs clients: `Api<K>` verbs, `kube::runtime::watcher`, and the
//! test controls. One test binary; the scenarios live in `cases/`.

mod cases;
