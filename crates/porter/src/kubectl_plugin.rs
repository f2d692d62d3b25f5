//! `kubectl porter ...`: kubectl runs any executable named `kubectl-porter` on `PATH` for
//! `kubectl porter`, passing the rest of the command line. A link of that name to `porter`
//! (`ln -s "$(command -v porter)" /usr/local/bin/kubectl-porter`) is Porter itself; only its
//! usage and help say `kubectl porter`, the way the user typed it.

use std::ffi::OsString;
use std::path::Path;

use clap::Parser;

/// The executable name kubectl looks for.
const PLUGIN_EXECUTABLE: &str = "kubectl-porter";

/// Parses this process's command line (see [`parse_from`]).
pub(crate) fn parse<P: Parser>() -> P {
    parse_from(std::env::args_os().collect())
}

/// Parses `args` as [`Parser::parse_from`] does; when `args[0]` is the plugin executable, the
/// usage and help name the command `kubectl porter`.
pub(crate) fn parse_from<P: Parser>(args: Vec<OsString>) -> P {
    if !is_plugin(args.first()) {
        return P::parse_from(args);
    }
    let matches = P::command()
        .bin_name("kubectl porter")
        .get_matches_from(args);
    P::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn is_plugin(arg0: Option<&OsString>) -> bool {
    arg0.and_then(|a| Path::new(a).file_stem())
        .is_some_and(|stem| stem == PLUGIN_EXECUTABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_recognised_by_its_file_name_only() {
        let yes = [
            "kubectl-porter",
            "/usr/local/bin/kubectl-porter",
            "kubectl-porter.exe",
        ];
        for a in yes {
            assert!(is_plugin(Some(&a.into())), "{a}");
        }
        let no = ["porter", "/opt/kubectl-porter/porter", "kubectl-porterx"];
        for a in no {
            assert!(!is_plugin(Some(&a.into())), "{a}");
        }
        assert!(!is_plugin(None));
    }
}
