//! Build and test-run statuses as types. Stored as today's strings in the
//! `status` TEXT columns (packit-service's values, which the dashboard reads),
//! bound and read as text: no PostgreSQL enum type, so no type lookup on a new
//! connection and no migration.

use std::fmt;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// A status the code does not know, read from the database.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} status '{value}'")]
pub struct UnknownStatus {
    kind: &'static str,
    value: String,
}

/// An enum stored as one of a fixed set of strings.
macro_rules! text_status {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The stored (and packit-service's) text.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, UnknownStatus> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownStatus { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        /// Compares with the stored text, as SQL and the dashboard see it.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'_, Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&str as Decode<'r, Postgres>>::decode(value)?.parse()?)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }
    };
}

text_status!(
    /// `koji_build_targets.status`: recorded `Pending` (no task yet), then Koji's
    /// task states (`Running`, and the final four), or `Retry` while a
    /// submission waits for the next attempt.
    BuildStatus, "build" {
        Pending = "pending",
        Running = "running",
        Retry = "retry",
        Success = "success",
        Failure = "failure",
        Error = "error",
        Canceled = "canceled",
    }
);

impl BuildStatus {
    /// Koji is done with it (or it never reached Koji and never will).
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Error | Self::Canceled)
    }
}

text_status!(
    /// `tft_test_run_targets.status` (packit-service's `TestingFarmResult`):
    /// `New` recorded, `Pending` waiting for its build, `Retry` waiting for the
    /// next submission; then Testing Farm's request states.
    TestStatus, "test" {
        New = "new",
        Pending = "pending",
        Retry = "retry",
        Queued = "queued",
        Running = "running",
        Passed = "passed",
        Failed = "failed",
        Error = "error",
        Canceled = "canceled",
        Skipped = "skipped",
        /// Complete with an overall result we do not know (packit-service's name).
        NeedsInspection = "needs_inspection",
    }
);

impl TestStatus {
    /// Testing Farm is done with it (or it was never sent and never will be).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Passed | Self::Failed | Self::Error | Self::Canceled | Self::Skipped | Self::NeedsInspection
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_text_round_trips() {
        for s in [BuildStatus::Pending, BuildStatus::Retry, BuildStatus::Canceled] {
            assert_eq!(s.as_str().parse::<BuildStatus>().unwrap(), s);
        }
        assert_eq!("skipped".parse::<TestStatus>().unwrap(), TestStatus::Skipped);
        assert!("cancel-requested".parse::<TestStatus>().is_err());
        assert_eq!(serde_json::to_string(&TestStatus::Passed).unwrap(), "\"passed\"");
    }
}
