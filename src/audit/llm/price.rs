//! Prices of model calls: USD per million input and output tokens, per model, from the
//! server config (`prices:`), and the cost arithmetic (estimates before a call, actual cost
//! after it from the answer's token usage).
//!
//! It must never treat a model as free: a model without a price is an error when the auditor
//! is built ([`PriceTable::get`]), never a cost of zero, and prices must be finite and ≥ 0.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One model's price, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
}

impl ModelPrice {
    /// The cost of `input_tokens` in and `output_tokens` out.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input + output_tokens as f64 * self.output) / 1_000_000.0
    }
}

/// A price problem found when the config is loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    #[error("model {0:?} has no price in `prices:` (a model is never assumed free)")]
    Unknown(String),
    #[error("model {model:?} has an invalid price ({what} = {value}); prices are USD per million tokens, finite and >= 0")]
    Invalid {
        model: String,
        what: &'static str,
        value: f64,
    },
}

/// Per-model prices, USD per million tokens (`prices:` of the server config).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace a model's price (checked).
    pub fn insert(
        &mut self,
        model: impl Into<String>,
        price: ModelPrice,
    ) -> Result<(), PriceError> {
        let model = model.into();
        for (what, value) in [("input", price.input), ("output", price.output)] {
            if !value.is_finite() || value < 0.0 {
                return Err(PriceError::Invalid { model, what, value });
            }
        }
        self.models.insert(model, price);
        Ok(())
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(
        mut self,
        model: impl Into<String>,
        input: f64,
        output: f64,
    ) -> Result<Self, PriceError> {
        self.insert(model, ModelPrice { input, output })?;
        Ok(self)
    }

    /// Check every price (for a table read with serde).
    pub fn validate(&self) -> Result<(), PriceError> {
        let mut copy = PriceTable::new();
        for (m, p) in &self.models {
            copy.insert(m.clone(), *p)?;
        }
        Ok(())
    }

    /// A model's price; an unknown model is an error, never free.
    pub fn get(&self, model: &str) -> Result<ModelPrice, PriceError> {
        self.models
            .get(model)
            .copied()
            .ok_or_else(|| PriceError::Unknown(model.to_string()))
    }
}

/// Tokens of a text as estimated before a call: `ceil(chars / 4)` (characters, not bytes).
/// A rough rule of thumb for English and code; the actual count comes from the answer's usage,
/// and the budget allows for the difference (see `audit::budget`).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_model_is_an_error_not_free() {
        let t = PriceTable::new().with("m", 1.0, 2.0).unwrap();
        assert_eq!(t.get("x"), Err(PriceError::Unknown("x".into())));
        assert!((t.get("m").unwrap().cost(1_000_000, 500_000) - 2.0).abs() < 1e-12);
        assert!(PriceTable::new().with("m", -1.0, 2.0).is_err());
        assert!(PriceTable::new().with("m", f64::NAN, 2.0).is_err());
    }

    #[test]
    fn tokens_are_chars_over_four_rounded_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abc"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("ééééé"), 2);
    }

    #[test]
    fn table_deserialises() {
        let t: PriceTable =
            serde_json::from_str(r#"{"o3-mini":{"input":1.1,"output":4.4}}"#).unwrap();
        t.validate().unwrap();
        assert_eq!(t.get("o3-mini").unwrap().input, 1.1);
    }
}
