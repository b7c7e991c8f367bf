//! The manifest's `build` step: one command, run to completion before
//! anything starts, its output passed through.

use std::path::Path;

use ordo_config::manifest::BuildConfig;

/// Runs `b` in its folder; an error says what failed and how.
pub(crate) async fn run(b: &BuildConfig, base: &Path) -> Result<(), String> {
    let dir = match b.dir.as_deref() {
        Some(d) => base.join(d),
        None => base.to_path_buf(),
    };
    let shown = std::iter::once(b.command.as_str())
        .chain(b.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    println!("  build          {shown}   (in {})", dir.display());
    let status = tokio::process::Command::new(&b.command)
        .args(&b.args)
        .envs(&b.env)
        .current_dir(&dir)
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| {
            format!(
                "build: cannot run `{}` in {}: {e}",
                b.command,
                dir.display()
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "build: `{shown}` failed ({status}); nothing was started"
        ))
    }
}
