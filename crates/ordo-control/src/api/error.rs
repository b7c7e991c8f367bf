//! [`ApiError`]: every failure as a status and a JSON body a user can act on.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Problem;
use crate::audit::AuditError;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in a sentence.
    pub error: String,
    /// Each problem with the input, by field (absent when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                problems: Vec::new(),
            },
        }
    }

    pub(crate) fn invalid(error: impl Into<String>, problems: Vec<Problem>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                error: error.into(),
                problems,
            },
        }
    }

    pub(crate) fn not_found_instance(id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no instance is registered with id `{id}`; register it with POST /v1/instances"
            ),
        )
    }

    pub(crate) fn store(e: &StoreError) -> Self {
        // The detail is for the operator's log; the client learns the class.
        tracing::error!(error = %e, "control store failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the control plane's store failed; nothing was changed ({e})"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(mut problems) => {
                // The registry calls the actor `actor`; here it came from a header.
                let mut only_actor = true;
                for p in &mut problems {
                    if p.field == "actor" {
                        p.field = super::ACTOR_HEADER.to_owned();
                    } else {
                        only_actor = false;
                    }
                }
                let error = if only_actor {
                    "invalid x-ordo-actor header"
                } else {
                    "invalid registration"
                };
                ApiError::invalid(error, problems)
            }
            RegistryError::NotFound(id) => ApiError::not_found_instance(&id),
            RegistryError::Store(e) => ApiError::store(&e),
            other => {
                tracing::error!(error = %other, "registry failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Invalid { what, problems } => {
                ApiError::invalid(format!("invalid audit {what}"), problems)
            }
            AuditError::Store(e) => ApiError::store(&e),
        }
    }
}
