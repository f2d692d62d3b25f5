//! A problem in an object, named by the path of the field that causes it: what every check of an API object
//! reports (annotations here; the validation into checked values in `porter_model::valid`).

/// One problem in an object, tied to the field that causes it, so the message can go straight into a status
/// condition or an Event: `spec.address: "10.0.0.5/24" has host bits set; ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Path of the field, as in the YAML: `spec.conf.peerAs`, `spec.listenAddresses[1]`,
    /// `metadata.annotations[eip.openelb.kubesphere.io/v1alpha1]`.
    pub field: String,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// All errors in one line (`a: x; b: y`), for a condition message or an Event, which hold one string.
pub fn format_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_one_line() {
        let errors = [
            FieldError::new("spec.address", "must be set"),
            FieldError::new("spec.interface", "must be set when protocol is layer2"),
        ];
        assert_eq!(
            format_errors(&errors),
            "spec.address: must be set; spec.interface: must be set when protocol is layer2"
        );
        assert_eq!(format_errors(&[]), "");
    }
}
