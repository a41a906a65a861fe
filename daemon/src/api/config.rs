//! `config.*`: validating a config file (or an editor's unsaved text) and showing the effective
//! config with every default filled in.

use jsonrpsee::types::Params;
use tether_rpc_schema::api::{ConfigParams, ValidateResult};

use super::{invalid_params, RpcResult};
use crate::config::{self, Config};

pub async fn handle_validate(params: Params<'static>) -> RpcResult<ValidateResult> {
    let params: ConfigParams = params.parse()?;
    let diagnostics = match load(&params).await? {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics,
    };
    Ok(ValidateResult { diagnostics })
}

pub async fn handle_resolve(params: Params<'static>) -> RpcResult<serde_json::Value> {
    let params: ConfigParams = params.parse()?;
    let config = match load(&params).await? {
        Ok(config) => config,
        Err(diagnostics) => return Err(super::config_invalid(diagnostics)),
    };
    Ok(serde_json::to_value(config).expect("a config serializes"))
}

type Loaded = Result<Config, Vec<tether_rpc_schema::api::Diagnostic>>;

async fn load(params: &ConfigParams) -> RpcResult<Loaded> {
    match (&params.text, &params.path) {
        (Some(text), path) => Ok(config::parse(path.as_deref().unwrap_or("<unsaved config>"), text)),
        (None, Some(path)) => Ok(config::load(path.into()).await),
        (None, None) => Err(invalid_params("give the config's path or text")),
    }
}
