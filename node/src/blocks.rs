//! The block file of `tessera export-blocks` and `import-blocks`: each block SCALE-encoded
//! behind a SCALE compact length, one after another.

use parity_scale_codec::{Compact, Decode, Encode};
use std::io::{self, Read, Write};
use tessera_runtime::Block;

/// Largest encoded block the reader accepts (64 MiB).
pub const MAX_BLOCK_SIZE: usize = 64 * 1024 * 1024;

/// Why a block file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlockFileError {
    /// Reading failed.
    #[error("reading the block file: {0}")]
    Io(#[from] io::Error),
    /// A length prefix or block does not decode.
    #[error("block {index} in the file is malformed: {reason}")]
    Malformed {
        /// Position of the block in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Appends `block` to `out`.
pub fn write_block(out: &mut impl Write, block: &Block) -> io::Result<()> {
    let encoded = block.encode();
    out.write_all(&Compact(encoded.len() as u32).encode())?;
    out.write_all(&encoded)
}

/// Reads blocks one at a time.
pub struct BlockReader<R> {
    input: R,
    index: usize,
}

impl<R: Read> BlockReader<R> {
    /// Reads blocks from `input`.
    pub fn new(input: R) -> Self {
        BlockReader { input, index: 0 }
    }

    fn read_length(&mut self) -> Result<Option<usize>, BlockFileError> {
        // A compact length is 1, 2, 4 or 5 bytes; its first byte's low bits say which.
        let mut first = [0u8; 1];
        if self.input.read(&mut first)? == 0 {
            return Ok(None);
        }
        let extra = match first[0] & 0b11 {
            0 => 0,
            1 => 1,
            2 => 3,
            _ => 4,
        };
        let mut bytes = vec![first[0]];
        bytes.resize(1 + extra, 0);
        self.input.read_exact(&mut bytes[1..])?;
        let length =
            Compact::<u32>::decode(&mut &bytes[..]).map_err(|e| BlockFileError::Malformed {
                index: self.index,
                reason: e.to_string(),
            })?;
        Ok(Some(length.0 as usize))
    }
}

impl<R: Read> Iterator for BlockReader<R> {
    type Item = Result<Block, BlockFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = (|| {
            let Some(length) = self.read_length()? else {
                return Ok(None);
            };
            if length > MAX_BLOCK_SIZE {
                return Err(BlockFileError::Malformed {
                    index: self.index,
                    reason: format!("length {length} exceeds {MAX_BLOCK_SIZE}"),
                });
            }
            let mut encoded = vec![0u8; length];
            self.input.read_exact(&mut encoded)?;
            let block =
                Block::decode(&mut &encoded[..]).map_err(|e| BlockFileError::Malformed {
                    index: self.index,
                    reason: e.to_string(),
                })?;
            Ok(Some(block))
        })();
        self.index = self.index.saturating_add(1);
        result.transpose()
    }
}
