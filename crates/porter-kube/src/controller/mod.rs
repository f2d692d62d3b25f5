//! The controller on the Kubernetes API: plans from every snapshot, writes what differs.
//!
//! Deciding is pure and shared with the manifests-folder controller: [`assign::plan`] says
//! what every Service and Eip should hold, [`status::decide`] what their status, conditions and
//! Events should be (see that module for what is written and the table of Events), and
//! [`changes`] turns the difference between the snapshot and that decision into a list of
//! writes. The shell ([`run_controller`]) only performs them, and only while this controller
//! holds the leader Lease. A full resync (a restart, a new leader, a relist) of a cluster that
//! is already as decided therefore writes nothing.
//!
//! * [`patches`]: the decision as JSON merge patches, only the fields that change: a Service's
//!   metadata (finalizer `finalizer.lb.kubesphere.io/v1alpha1`, label
//!   `eip.openelb.kubesphere.io/v1alpha2=<pool>`) and its `/status` (addresses and
//!   conditions, one strategic merge patch so other controllers' conditions are kept); an
//!   Eip's `/status`;
//! * [`writer`]: performs one round: a Service that gets an address first gets its metadata,
//!   then its status, so a Service never holds an address without the finalizer that
//!   guarantees its release; one that gives its address back first loses the status, then the
//!   finalizer, so a deleted Service disappears only once its address is free. Events are
//!   reported with reporter [`REPORTER`] once the writes succeeded;
//! * [`run_loop`]: the leader-elected loop with its retry backoff, and [`run`], which starts
//!   the source and the election.
//!
//! [`assign::plan`]: porter_model::assign::plan
//! [`status::decide`]: porter_model::status::decide

pub mod patches;
pub mod run_loop;
pub mod writer;

pub use patches::{Changes, EipChange, JsonPatch, Round, ServiceChange, changes};
pub use run_loop::{ControllerConfig, run, run_controller};
pub use writer::Writer;

/// The reporter of the controller's Events and its field manager.
pub const REPORTER: &str = "porter-controller";
