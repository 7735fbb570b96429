//! placeholder
pub fn run(_config: crate::config::Config) -> anyhow::Result<()> {
    Ok(())
}
