//! Typed ids: a `ParticipantId` cannot be passed where a `StudyId` is wanted.
//! Every id is a UUID v7 string, so ids sort by creation time on both engines.
//! An id from outside (a URL, a form, a JSON body) is parsed once, at the
//! edge: anything but a UUID is refused there, so services only ever see ids
//! that have the right shape. Ids read back from the database are trusted.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Parses an id from outside (a URL, a form); anything but a UUID is refused.
            pub fn parse(raw: &str) -> Option<Self> {
                parse_uuid(raw).map(Self)
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

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = Cow::<'de, str>::deserialize(d)?;
                Self::parse(&raw).ok_or_else(|| serde::de::Error::custom(NOT_AN_ID))
            }
        }

        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                <String as sqlx::Decode<'r, sqlx::Any>>::decode(value).map(Self)
            }
        }

        impl poem_openapi::types::Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                uuid_schema()
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl poem_openapi::types::ParseFromJSON for $name {
            fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
                match value.unwrap_or_default() {
                    serde_json::Value::String(raw) => {
                        Self::parse(&raw).ok_or_else(|| poem_openapi::types::ParseError::custom(NOT_AN_ID))
                    }
                    other => Err(poem_openapi::types::ParseError::expected_type(other)),
                }
            }
        }

        impl poem_openapi::types::ParseFromParameter for $name {
            fn parse_from_parameter(raw: &str) -> poem_openapi::types::ParseResult<Self> {
                Self::parse(raw).ok_or_else(|| poem_openapi::types::ParseError::custom(NOT_AN_ID))
            }
        }

        impl poem_openapi::types::ToJSON for $name {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.0.clone()))
            }
        }
    )*};
}

const NOT_AN_ID: &str = "not an id (a UUID such as 0190d5c4-8f3a-7b21-9c4e-5a1b2c3d4e5f)";

fn parse_uuid(raw: &str) -> Option<String> {
    uuid::Uuid::parse_str(raw)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

fn uuid_schema() -> poem_openapi::registry::MetaSchemaRef {
    poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
        poem_openapi::registry::MetaSchema::new_with_format("string", "uuid"),
    ))
}

typed_id!(
    AccountId,
    StudyId,
    SiteId,
    TeamId,
    MembershipId,
    ApiTokenId,
    MessageId,
    ParticipantId,
    /// A consent record (one signed form).
    ConsentRecordId,
    /// A published version of a consent form.
    FormVersionId,
    /// A published translation of a form version.
    FormTranslationId,
    WithdrawalId,
    /// A capacity assessment (Mental Capacity Act).
    AssessmentId,
    /// A consultee's advice (Mental Capacity Act s.32).
    AdviceId,
    /// A sign of objection (Mental Capacity Act s.33).
    ObjectionId,
    /// One version of an instrument definition, as fieldkit keeps it.
    InstrumentVersionId,
    /// One response to an instrument (draft or submitted).
    ResponseId,
    /// One file in the media store (or a reference to one kept elsewhere).
    MediaObjectId,
    /// A vox pop, interview, focus group or film shoot.
    EncounterId,
    /// A recording, photo or document from an encounter.
    MediaItemId,
    TranscriptId,
    RedactionId,
    QuoteId,
);

/// A participant's pseudonymous study code, e.g. RC-0042: the only way a
/// participant is named in research tables, URLs, logs and the audit trail.
/// Made only from a study's prefix and a number, or read back from the
/// database, so no other text can pass for one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, poem_openapi::NewType)]
#[oai(from_parameter = false, from_multipart = false, to_header = false)]
#[serde(transparent)]
pub struct StudyCode(String);

impl StudyCode {
    /// The code for the `number`th participant: RC-0042. Numbers past 9999
    /// simply grow wider.
    pub fn new(prefix: &str, number: i64) -> StudyCode {
        StudyCode(format!("{prefix}-{number:04}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StudyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl sqlx::Type<sqlx::Any> for StudyCode {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <String as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for StudyCode {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <String as sqlx::Decode<'r, sqlx::Any>>::decode(value).map(StudyCode)
    }
}

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

    #[test]
    fn ids_from_json_must_be_uuid_strings() {
        use poem_openapi::types::ParseFromJSON;
        let id = ParticipantId::new();
        let parsed = ParticipantId::parse_from_json(Some(serde_json::json!(id.as_str())));
        assert_eq!(parsed.ok(), Some(id));
        assert!(ParticipantId::parse_from_json(Some(serde_json::json!(5))).is_err());
        assert!(ParticipantId::parse_from_json(Some(serde_json::json!("RC-0042"))).is_err());
        assert!(serde_json::from_str::<ParticipantId>("\"RC-0042\"").is_err());
    }

    #[test]
    fn upper_case_uuids_become_the_stored_form() {
        let id = StudyId::new();
        let upper = id.as_str().to_uppercase();
        assert_eq!(StudyId::parse(&upper), Some(id));
    }
}
