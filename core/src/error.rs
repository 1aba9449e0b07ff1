//! The ARM error vocabulary: `{"error":{"code":..,"message":..}}`, as Azure Stack Hub answers.

use serde::{Deserialize, Serialize};

/// Every error code Meterbook's ARM-compatible endpoints answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArmCode {
    NoApiVersion,
    InvalidProperty,
    RequestEndTimeIsInFuture,
    InvalidAggregationGranularity,
    SubscriberIdIsNotDirectTenant,
    SubscriptionIdMissingInRequest,
    SubscriptionNotFound,
    AuthorizationFailed,
    InvalidAuthenticationToken,
    InvalidUsageRecords,
    RequestTooLarge,
    UnsupportedMediaType,
    /// The request conflicts with the resource's state (a closed billing period).
    Conflict,
    /// A statement's amounts cannot be represented (they leave the exact decimal range).
    AmountOutOfRange,
    NotFound,
    ServiceUnavailable,
    /// The upstream Azure Stack Hub failed or refused Meterbook's own credential.
    UpstreamFailed,
    InternalServerError,
}

impl ArmCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoApiVersion => "NoApiVersion",
            Self::InvalidProperty => "InvalidProperty",
            Self::RequestEndTimeIsInFuture => "RequestEndTimeIsInFuture",
            Self::InvalidAggregationGranularity => "InvalidAggregationGranularity",
            Self::SubscriberIdIsNotDirectTenant => "SubscriberIdIsNotDirectTenant",
            Self::SubscriptionIdMissingInRequest => "SubscriptionIdMissingInRequest",
            Self::SubscriptionNotFound => "SubscriptionNotFound",
            Self::AuthorizationFailed => "AuthorizationFailed",
            Self::InvalidAuthenticationToken => "InvalidAuthenticationToken",
            Self::InvalidUsageRecords => "InvalidUsageRecords",
            Self::RequestTooLarge => "RequestTooLarge",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::Conflict => "Conflict",
            Self::AmountOutOfRange => "AmountOutOfRange",
            Self::NotFound => "NotFound",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::UpstreamFailed => "UpstreamFailed",
            Self::InternalServerError => "InternalServerError",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::NoApiVersion
            | Self::InvalidProperty
            | Self::RequestEndTimeIsInFuture
            | Self::InvalidAggregationGranularity
            | Self::SubscriberIdIsNotDirectTenant
            | Self::SubscriptionIdMissingInRequest
            | Self::InvalidUsageRecords => 400,
            Self::InvalidAuthenticationToken => 401,
            Self::AuthorizationFailed => 403,
            Self::SubscriptionNotFound | Self::NotFound => 404,
            Self::RequestTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Conflict => 409,
            Self::AmountOutOfRange => 422,
            Self::ServiceUnavailable => 503,
            Self::UpstreamFailed => 502,
            Self::InternalServerError => 500,
        }
    }
}

impl std::fmt::Display for ArmCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error as an ARM endpoint reports it, optionally with per-item details.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ArmError {
    pub code: ArmCode,
    pub message: String,
    pub details: Vec<ErrorDetail>,
}

impl ArmError {
    pub fn new(code: ArmCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// `InvalidProperty`, the most common client error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ArmCode::InvalidProperty, message)
    }

    pub fn with_details(mut self, details: Vec<ErrorDetail>) -> Self {
        self.details = details;
        self
    }

    /// The JSON envelope sent to clients.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

/// `{"error": {...}}` on the wire.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

/// One item of an error's `details`: which input (`target`) was wrong and why.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub target: String,
    pub message: String,
}
