//! The pages people read: the decision record as HTML (`patchgate report --html`, and the
//! record page of `serve`'s web view).
//!
//! Pure: data in, HTML text out, through compile-time checked templates (`templates/`,
//! askama) that escape every value; no page loads a script or anything from elsewhere.

pub mod pages;
pub mod record;
pub mod sidebyside;
