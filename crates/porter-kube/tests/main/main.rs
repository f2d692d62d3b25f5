//! porter-kube's shells over HTTP against the in-process API server double (porter-fake-api):
//! the controller, the sources, the speaker's BgpPeer status, the API error metrics.

mod controller;
mod metrics;
mod source;
mod speaker_status;
mod support;
