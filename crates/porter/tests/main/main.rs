//! The `porter` binary end to end: against real routers in network namespaces, the fake API
//! server over HTTP, the deploy manifests and kustomize, the router docs, `--version`.

mod cluster;
mod deploy;
mod e2e_lab;
mod kustomize;
mod routers_doc;
mod status;
mod support;
mod version;
