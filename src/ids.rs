//! Typed ids: a `StudyId` cannot be passed where an `AccountId` is wanted.
//! Every id is a UUID v7 string, so ids sort by creation time on both engines.

use serde::{Deserialize, Serialize};

macro_rules! typed_id {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Parses an id from outside (a URL, a form); anything but a UUID is refused.
            pub fn parse(raw: &str) -> Option<Self> {
                uuid::Uuid::parse_str(raw).ok().map(|u| Self(u.hyphenated().to_string()))
            }

            /// Wraps an id read back from the database.
            pub fn from_db(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

typed_id!(
    AccountId,
    StudyId,
    SiteId,
    TeamId,
    MembershipId,
    ApiTokenId,
    MessageId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_uuids() {
        assert!(StudyId::parse("not-an-id").is_none());
        assert!(StudyId::parse("' or 1=1 --").is_none());
        let id = StudyId::new();
        assert_eq!(StudyId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = AccountId::new();
        let b = AccountId::new();
        assert!(a < b);
    }
}
