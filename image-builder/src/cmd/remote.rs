//! What every command that talks to a device shares: `--to`, the identity
//! it talks as, and how its outcome becomes an exit code (0 done, 2 the
//! device refused, with its reason, 1 anything else).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cairn_image_builder::discover::{self, Search};
use cairn_image_builder::keys::DEFAULT_IDENTITY;
use cairn_image_builder::remote::{Client, Identity, RemoteError, Target, IDENTITY_NEEDS};

/// Who talks.
#[derive(clap::Args, Debug, Clone)]
pub struct IdentityArgs {
    /// The identity directory: ca.crt with NAME.crt and NAME.key (default:
    /// $CAIRN_IDENTITY, else the .cairn/ of the project, found from the
    /// bundle or the current directory upwards).
    #[arg(long, value_name = "DIR")]
    pub identity: Option<PathBuf>,
    /// Talk as identity NAME (NAME.crt, NAME.key).
    #[arg(long = "as", value_name = "NAME", default_value = DEFAULT_IDENTITY)]
    pub as_name: String,
}

/// Which device, and who talks to it.
#[derive(clap::Args, Debug, Clone)]
pub struct RemoteArgs {
    /// The device: HOST or HOST:PORT (default port 7443). A DNS name must
    /// be in the device's certificate; an IP address or localhost is
    /// checked as cairn.local.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub to: String,
    #[command(flatten)]
    pub who: IdentityArgs,
}

impl IdentityArgs {
    /// The client for `to`, its identity found from `near` (a bundle) or
    /// the current directory.
    pub fn client(&self, to: &str, near: Option<&Path>) -> anyhow::Result<Client> {
        let target = Target::parse(to).map_err(anyhow::Error::msg)?;
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let dir = discover::find(
            &Search {
                explicit: self.identity.as_deref(),
                env: true,
                near,
                needs: IDENTITY_NEEDS,
                hint: "pass --identity DIR (a project's .cairn/, or a directory holding ca.crt, \
                       NAME.crt and NAME.key) or set CAIRN_IDENTITY",
            },
            &cwd,
        )?;
        let identity = Identity::load(&dir, &self.as_name).with_context(|| {
            format!("cannot use identity {} of {}", self.as_name, dir.display())
        })?;
        Ok(Client::new(target, identity))
    }
}

impl RemoteArgs {
    pub fn client(&self, near: Option<&Path>) -> anyhow::Result<Client> {
        self.who.client(&self.to, near)
    }
}

/// 0 on success; 2 when the device refused (its reason printed); else 1.
pub fn exit_code(command: &str, result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    let refused = err.chain().any(|c| {
        c.downcast_ref::<RemoteError>()
            .is_some_and(RemoteError::is_refusal)
    });
    eprintln!(
        "cairn {command}: {}{err:#}",
        if refused { "refused: " } else { "" }
    );
    ExitCode::from(if refused { 2 } else { 1 })
}
