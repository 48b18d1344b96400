//! "Did you mean …?": the closest of some known names to a mistyped one,
//! for unknown config keys and unknown watch names.

/// The candidate closest to `word` by edit distance, if it is close enough
/// to be a typo: at most 2 edits, or a third of the candidate's length.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(2))
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{closest, edit_distance};

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("mfa", "mfa"), 0);
        assert_eq!(edit_distance("mfa", "mfb"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("外交部", "外交"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn only_a_likely_typo_is_suggested() {
        let keys = ["select", "exclude", "per_host_delay"];
        assert_eq!(closest("selector", &keys), Some("select"));
        assert_eq!(closest("per_host_dely", &keys), Some("per_host_delay"));
        assert_eq!(closest("colour", &keys), None);
    }
}
