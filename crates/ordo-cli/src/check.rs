//! `ordo check MANIFEST`: checks a manifest without running anything; one
//! line per problem, with file, line and field.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ordo_config::manifest::Manifest;

/// `ordo check` flags.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The manifest, or a folder holding `ordo.yaml`.
    #[arg(value_name = "MANIFEST", default_value = ".")]
    manifest: PathBuf,
}

pub(crate) fn run(args: CheckArgs) -> ExitCode {
    let file = crate::up::manifest_path(&args.manifest);
    match ordo_config::load::<Manifest>(&file) {
        Ok(doc) => {
            let instances: u32 = doc.config.services.iter().map(|s| s.replicas).sum();
            println!(
                "{}: ok ({} services, {instances} instances)",
                file.display(),
                doc.config.services.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
