//! Error types, kept in one place so callers can match on them and users read consistent messages.

use std::fmt;
use std::net::IpAddr;

use crate::range::{Family, IpRange};

/// Why an Eip `spec.address` string (or a pair of bounds) is not a usable address range.
///
/// Each message quotes the offending input so an operator can find it in their manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The input was empty or only whitespace.
    #[error("address range is empty; expected an IP address, a CIDR or a first-last range")]
    Empty,
    /// The input is not an IP address, a CIDR or a `first-last` range.
    #[error("{input:?} is not an IP address, a CIDR or a first-last range")]
    Invalid {
        /// The text as given.
        input: String,
    },
    /// A CIDR whose prefix length exceeds the address width of its family.
    #[error("{input:?} has a prefix length that is too long for {family} (at most {max})")]
    PrefixTooLong {
        /// The text as given.
        input: String,
        /// Family of the address part.
        family: Family,
        /// Longest prefix the family allows.
        max: u8,
    },
    /// A CIDR whose address has bits set after the prefix; rejected rather than silently normalised.
    #[error("{input:?} has host bits set; did you mean {suggestion:?}?")]
    HostBitsSet {
        /// The text as given.
        input: String,
        /// The same CIDR with host bits cleared.
        suggestion: String,
    },
    /// The two bounds of a range are of different families.
    #[error("{input:?} mixes IPv4 and IPv6 addresses")]
    MixedFamilies {
        /// The text as given.
        input: String,
    },
    /// The first bound of a range is greater than the last.
    #[error("{input:?} has its first address greater than its last")]
    Reversed {
        /// The text as given.
        input: String,
    },
}

/// Why a pool cannot be added or updated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The pool's range shares addresses with another pool's range; an address must belong to one pool only.
    #[error("range {range} of Eip {pool:?} overlaps range {other_range} of Eip {other:?}")]
    Overlap {
        /// The pool being added or updated.
        pool: String,
        /// Its requested range.
        range: IpRange,
        /// The existing pool it collides with.
        other: String,
        /// That pool's range.
        other_range: IpRange,
    },
    /// Pool names must be non-empty (an empty pool name marks an orphaned assignment).
    #[error("Eip name is empty")]
    EmptyName,
}

/// Why an address could not be assigned or restored.
///
/// Messages are written to be shown verbatim as Kubernetes Events, so they call a pool what
/// its users call it: an Eip (`Eip "x"`), the object it is made from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The address is held by another owner.
    #[error("address {ip} is already assigned to {holder}")]
    Conflict {
        /// The contested address.
        ip: IpAddr,
        /// Who holds it.
        holder: String,
    },
    /// The address lies outside every pool.
    #[error("address {ip} is not in any Eip")]
    NotInAnyPool {
        /// The requested address.
        ip: IpAddr,
    },
    /// The address lies in a pool, but not in one of those the request allows.
    #[error("address {ip} is not in the requested {}", List(.pools))]
    NotInRequestedPools {
        /// The requested address.
        ip: IpAddr,
        /// The pools the request allowed.
        pools: Vec<String>,
    },
    /// The requested address belongs to a disabled pool, which hands out no new addresses.
    #[error("Eip {pool:?} is disabled and hands out no new addresses")]
    PoolDisabled {
        /// The disabled pool.
        pool: String,
    },
    /// The requested address ends in `.0` or `.255` and its pool avoids those (`avoidBuggyIPs`).
    #[error(
        "address {ip} ends in .0 or .255, which Eip {pool:?} does not hand out (avoidBuggyIPs)"
    )]
    BuggyIpAvoided {
        /// The requested address.
        ip: IpAddr,
        /// The pool that avoids it.
        pool: String,
    },
    /// The request names a pool that does not exist.
    #[error("Eip {pool:?} does not exist")]
    UnknownPool {
        /// The missing pool.
        pool: String,
    },
    /// No requested pool of the right family has a free address (or all are disabled).
    #[error("no free address in {} (all full or disabled)", List(.pools))]
    PoolsExhausted {
        /// The pools that were tried.
        pools: Vec<String>,
    },
    /// None of the requested pools serves the wanted family.
    #[error("no {family} addresses in {}", List(.pools))]
    FamilyMismatch {
        /// The family wanted.
        family: Family,
        /// The pools requested.
        pools: Vec<String>,
    },
    /// The request names no pool and no address, so there is nowhere to allocate from.
    #[error("no Eip to allocate from")]
    NoPool,
    /// The owner already holds another address of that family; it must be released first.
    #[error("{owner} already holds address {ip}; release it before asking for another")]
    AlreadyAssigned {
        /// The owner.
        owner: String,
        /// The address it holds.
        ip: IpAddr,
    },
}

/// Formats a list of pool names for messages as users name them: `Eip "a"`, `Eips "a", "b"`.
struct List<'a>(&'a [String]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0.len() {
            // Never empty where used (a request naming no pool is `NoPool`); said plainly anyway.
            0 => "no Eip",
            1 => "Eip ",
            _ => "Eips ",
        })?;
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p:?}")?;
        }
        Ok(())
    }
}
