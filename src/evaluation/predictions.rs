//! Per-image results of `sturdy predict`, written as CSV (`index,label,predicted,logit_0,...`)
//! or as a NumPy `.npy` array of the logits [N, classes] (f64), chosen by the file's
//! extension; and the inputs evaluated, as `.npy` [N, C, H, W] (f64). Files are written
//! atomically.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};

use crate::reference::loss::argmax;

/// One image's logits and label, in the order evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub index: usize,
    pub label: u32,
    pub logits: Vec<f64>,
}

impl Prediction {
    pub fn predicted(&self) -> usize {
        argmax(&self.logits)
    }
}

/// `.npy` version 1.0 of a C-order f64 array of `shape`.
pub fn npy(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let trailing = if shape.len() == 1 { "," } else { "" };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({}{trailing}), }}", dims.join(", "));
    // Magic (6), version (2) and length (2), then the header padded with spaces and a
    // newline to a multiple of 64 bytes, as the format asks.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    bytes
}

fn csv(predictions: &[Prediction]) -> String {
    let classes = predictions.first().map_or(0, |p| p.logits.len());
    let logits: Vec<String> = (0..classes).map(|k| format!("logit_{k}")).collect();
    let mut text = format!("index,label,predicted,{}\n", logits.join(","));
    for p in predictions {
        let values: Vec<String> = p.logits.iter().map(f64::to_string).collect();
        let _ = writeln!(text, "{},{},{},{}", p.index, p.label, p.predicted(), values.join(","));
    }
    text
}

/// Writes `predictions` to `path`: CSV for `.csv`, the logits for `.npy`.
pub fn write(path: &Path, predictions: &[Prediction]) -> anyhow::Result<()> {
    let bytes = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => csv(predictions).into_bytes(),
        Some("npy") => {
            let classes = predictions.first().map_or(0, |p| p.logits.len());
            let values: Vec<f64> = predictions.iter().flat_map(|p| p.logits.iter().copied()).collect();
            npy(&[predictions.len(), classes], &values)
        }
        _ => bail!("{}: the output must end in .csv (per-image rows) or .npy (the logits)", path.display()),
    };
    crate::atomic::write_file(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_headers_are_padded_to_64_bytes_and_hold_the_shape() {
        let bytes = npy(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'shape': (2, 3)") && header.ends_with('\n'), "{header}");
        assert_eq!(bytes.len(), 10 + header_len + 6 * 8);
        assert_eq!(f64::from_le_bytes(bytes[10 + header_len..][..8].try_into().unwrap()), 1.0);
        assert!(std::str::from_utf8(&npy(&[4], &[0.0; 4])[10..]).unwrap().contains("'shape': (4,)"));
    }

    #[test]
    fn csv_rows_name_the_predicted_class() {
        let rows = [Prediction { index: 7, label: 1, logits: vec![0.5, 2.0, -1.0] }];
        assert_eq!(csv(&rows), "index,label,predicted,logit_0,logit_1,logit_2\n7,1,1,0.5,2,-1\n");
    }
}
