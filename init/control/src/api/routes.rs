//! The endpoints, and the role each needs (the table of
//! `docs/control-api.md`). A route is matched and its role checked before
//! anything of the request's body is read.

use hyper::Method;

use super::identity::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Status,
    Logs,
    Kmsg,
    Metrics,
    /// The app's name as it stood in the path; checked after the role.
    Restart(String),
    Reboot,
    Update,
    Rollback,
    Secret(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    NotFound,
    /// The path exists with these methods.
    Method(&'static str),
}

impl Route {
    pub fn find(method: &Method, path: &str) -> Result<Route, NoRoute> {
        let segments: Vec<&str> = path.split('/').collect();
        let (route, allowed) = match segments.as_slice() {
            ["", "v1", "status"] => (Route::Status, "GET"),
            ["", "v1", "logs"] => (Route::Logs, "GET"),
            ["", "v1", "kmsg"] => (Route::Kmsg, "GET"),
            ["", "metrics"] => (Route::Metrics, "GET"),
            ["", "v1", "apps", name, "restart"] => (Route::Restart((*name).to_owned()), "POST"),
            ["", "v1", "reboot"] => (Route::Reboot, "POST"),
            ["", "v1", "update"] => (Route::Update, "POST"),
            ["", "v1", "rollback"] => (Route::Rollback, "POST"),
            ["", "v1", "secrets", name] => (Route::Secret((*name).to_owned()), "PUT"),
            _ => return Err(NoRoute::NotFound),
        };
        if method.as_str() == allowed {
            Ok(route)
        } else {
            Err(NoRoute::Method(allowed))
        }
    }

    /// The least role that may call it.
    pub fn needs(&self) -> Role {
        match self {
            Route::Status | Route::Logs | Route::Kmsg | Route::Metrics => Role::Reader,
            Route::Restart(_) | Route::Reboot => Role::Operator,
            Route::Update | Route::Rollback | Route::Secret(_) => Role::Admin,
        }
    }

    pub fn allows(&self, role: Option<Role>) -> bool {
        role.is_some_and(|role| role >= self.needs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_and_its_role() {
        let table = [
            (Method::GET, "/v1/status", Role::Reader),
            (Method::GET, "/v1/logs", Role::Reader),
            (Method::GET, "/v1/kmsg", Role::Reader),
            (Method::GET, "/metrics", Role::Reader),
            (Method::POST, "/v1/apps/web/restart", Role::Operator),
            (Method::POST, "/v1/reboot", Role::Operator),
            (Method::POST, "/v1/update", Role::Admin),
            (Method::POST, "/v1/rollback", Role::Admin),
            (Method::PUT, "/v1/secrets/db-password", Role::Admin),
        ];
        for (method, path, needs) in table {
            let route = Route::find(&method, path).unwrap();
            assert_eq!(route.needs(), needs, "{path}");
            assert!(route.allows(Some(Role::Admin)));
            assert_eq!(route.allows(Some(Role::Reader)), needs == Role::Reader);
            assert!(!route.allows(None));
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(
            Route::find(&Method::GET, "/v1/status/"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(Route::find(&Method::GET, "/"), Err(NoRoute::NotFound));
        assert_eq!(
            Route::find(&Method::GET, "/v1/apps/a/b/restart"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            Route::find(&Method::DELETE, "/v1/update"),
            Err(NoRoute::Method("POST"))
        );
        assert_eq!(
            Route::find(&Method::POST, "/v1/apps/../restart"),
            Ok(Route::Restart("..".into()))
        );
    }
}
