use std::fmt;

/// Errors a caller can trigger with data (out-of-range indices, bad shapes). Internal invariant
/// violations are asserts instead.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorError {
    /// Operand shapes do not fit the operation.
    Shape { op: &'static str, detail: String },
    /// A value used as an index (class target, one-hot, embedding row) is not an integer in
    /// `0..limit`. `row` is the row of the offending value.
    Index {
        op: &'static str,
        row: usize,
        value: f64,
        limit: usize,
    },
    /// A value outside the domain of the operation (a `BCELoss` probability outside
    /// [0, 1]). `row` is the row of the offending value.
    Domain {
        op: &'static str,
        row: usize,
        value: f64,
        expected: &'static str,
    },
    /// A sparse structure is malformed (non-monotone `indptr`, column out of range, ...).
    Sparse(String),
    /// A parameter or argument is invalid (dropout p outside [0, 1), ...).
    Invalid(String),
}

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorError::Shape { op, detail } => write!(f, "{op}: shape mismatch: {detail}"),
            TensorError::Index {
                op,
                row,
                value,
                limit,
            } => write!(
                f,
                "{op}: row {row} holds {value}, which is not an integer index in 0..{limit}"
            ),
            TensorError::Domain {
                op,
                row,
                value,
                expected,
            } => write!(f, "{op}: row {row} holds {value}, not {expected}"),
            TensorError::Sparse(m) => write!(f, "malformed sparse structure: {m}"),
            TensorError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for TensorError {}

pub type Result<T, E = TensorError> = std::result::Result<T, E>;

pub(crate) fn shape_err<T>(op: &'static str, detail: impl Into<String>) -> Result<T> {
    Err(TensorError::Shape {
        op,
        detail: detail.into(),
    })
}
