//! Sans-IO, deterministic address allocation for Porter's `Eip` pools.
//!
//! Porter controllers feed this crate the pools operators declared ([`IpRange`] parsed from an
//! Eip's `spec.address`) and the assignments read back from Services, then ask it for addresses.
//! Everything is pure and ordered (no clocks, no I/O, no hash iteration order), so the same
//! sequence of calls always yields the same addresses, and a failing call never changes state.
//!
//! ```
//! use porter_ipam::{Allocator, IpRange, Request};
//!
//! let mut ipam = Allocator::new();
//! ipam.set_pool("eip-a", IpRange::parse("192.168.0.91-192.168.0.100")?, false)?;
//! let req = Request { pools: vec!["eip-a".into()], ..Request::default() };
//! let got = ipam.assign("default/web", &req)?;
//! assert_eq!(got.ip.to_string(), "192.168.0.91");
//! assert_eq!(ipam.assign("default/web", &req)?, got); // sticky
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs, unreachable_pub)]

mod allocator;
mod error;
mod range;

pub use allocator::{Allocator, Assignment, PoolUsage, Request};
pub use error::{AllocError, PoolError, RangeError};
pub use range::{Family, IpRange};
