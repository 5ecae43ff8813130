//! Photos as gridsync stores them: re-encoded on the phone before they are kept, and
//! checked by the center before it serves them.
//!
//! A camera's 3–8 MB JPEG becomes a ~1600 px JPEG of a few hundred KB (what a 2G link
//! carries in a minute or two) and a small thumbnail for lists. Decoding applies the
//! EXIF orientation; encoding writes pixels only, so the EXIF block (GPS position,
//! phone make and serial, time) never leaves the phone. Every decode is bounded: the
//! dimensions are read from the header and refused above [`MAX_PIXELS`] before a pixel
//! is decoded (a small file may declare a huge image: a decompression bomb), and the
//! decoder's allocations are capped.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::{Result, Rule, ValidationError};
use crate::model::MAX_PHOTO_SIDE;

/// The most pixels a photo may have to be decoded at all (a 48 MP phone camera).
pub const MAX_PIXELS: u64 = 48_000_000;
/// The most bytes a photo handed to `attach` may have, before re-encoding.
pub const MAX_INPUT_BYTES: usize = 40 << 20;
/// The longest side a photo may have to be decoded (a panorama).
const MAX_DECODE_SIDE: u32 = 16_384;
/// The most memory one decode may allocate.
const MAX_DECODE_ALLOC: u64 = 256 << 20;

/// How photos are re-encoded. The defaults suit 2G: ~1600 px, quality 70, a few
/// hundred KB a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoOptions {
    /// The longest side of the stored photo, in pixels (smaller photos keep theirs).
    pub max_side: u32,
    /// JPEG quality of the stored photo, 1–100.
    pub quality: u8,
    /// The longest side of the thumbnail.
    pub thumbnail_side: u32,
    pub thumbnail_quality: u8,
}

impl Default for PhotoOptions {
    fn default() -> Self {
        Self { max_side: 1600, quality: 70, thumbnail_side: 320, thumbnail_quality: 60 }
    }
}

/// A JPEG ready to store, with its dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A photo re-encoded for storage, and its thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub photo: Encoded,
    pub thumbnail: Encoded,
}

fn invalid(rule: Rule) -> crate::Error {
    ValidationError::new("photo", rule).into()
}

/// Re-encodes `bytes` (a JPEG or PNG from the camera or the gallery) for storage:
/// upright, at most `options.max_side` on its longest side, without metadata.
pub fn prepare(bytes: &[u8], options: &PhotoOptions) -> Result<Prepared> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(invalid(Rule::PhotoBytes { max: MAX_INPUT_BYTES >> 20 }));
    }
    let image = decode(bytes, &[ImageFormat::Jpeg, ImageFormat::Png], MAX_DECODE_SIDE)?;
    let max_side = options.max_side.clamp(64, MAX_PHOTO_SIDE);
    let photo = encode(&shrink(&image, max_side), options.quality)?;
    let thumbnail = encode(&shrink(&image, options.thumbnail_side.clamp(32, max_side)), options.thumbnail_quality)?;
    Ok(Prepared { photo, thumbnail })
}

/// Checks that `bytes` are a whole JPEG photo within gridsync's bounds, decoding it
/// under the same limits: what the center does before it keeps an uploaded blob.
/// Returns its dimensions.
pub fn check_stored(bytes: &[u8]) -> Result<(u32, u32)> {
    // The side is read from the header, before a pixel is decoded.
    let image = decode(bytes, &[ImageFormat::Jpeg], MAX_PHOTO_SIDE)?;
    Ok((image.width(), image.height()))
}

/// Decodes an image of one of `formats`, upright, refusing anything over the bounds
/// before its pixels are decoded. A decoder that panics on malformed bytes refuses
/// them instead of taking the app or a center request down.
fn decode(bytes: &[u8], formats: &[ImageFormat], max_side: u32) -> Result<DynamicImage> {
    std::panic::catch_unwind(|| decode_unguarded(bytes, formats, max_side))
        .unwrap_or_else(|_| Err(invalid(Rule::PhotoFormat)))
}

fn decode_unguarded(bytes: &[u8], formats: &[ImageFormat], max_side: u32) -> Result<DynamicImage> {
    let format = image::guess_format(bytes).map_err(|_| invalid(Rule::PhotoFormat))?;
    if !formats.contains(&format) {
        return Err(invalid(Rule::PhotoFormat));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let too_many_pixels = || invalid(Rule::PhotoPixels { max: (MAX_PIXELS / 1_000_000) as usize });
    let refused = |err: image::ImageError| match err {
        image::ImageError::Limits(_) => too_many_pixels(),
        _ => invalid(Rule::PhotoFormat),
    };
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(too_many_pixels());
    }
    if width > max_side || height > max_side {
        return Err(invalid(Rule::AtMost { max: max_side as usize }));
    }
    let orientation = decoder.orientation().map_err(refused)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// `image` scaled down so its longest side is at most `side` (never scaled up).
fn shrink(image: &DynamicImage, side: u32) -> DynamicImage {
    if image.width() <= side && image.height() <= side {
        return image.clone();
    }
    // Area averaging in integers: several times faster than a filtered resize on a
    // 12 MP photo, and for reductions of 2× and more it looks the same.
    image.thumbnail(side, side)
}

/// Pixels only: a JPEG with no EXIF, XMP or ICC block.
fn encode(image: &DynamicImage, quality: u8) -> Result<Encoded> {
    let rgb = image.to_rgb8();
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode_image(&rgb)
        .map_err(|_| crate::Error::Document("the photo could not be encoded".into()))?;
    Ok(Encoded { bytes, width: rgb.width(), height: rgb.height() })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A camera's JPEG: a sample photo with an EXIF block naming the phone and its
    /// orientation.
    pub(crate) fn camera_jpeg(width: u32, height: u32, orientation: u16) -> Vec<u8> {
        with_exif(&crate::sample::Sample::new(7).photo(width, height), orientation)
    }

    /// `jpeg` with an APP1 EXIF segment (little-endian TIFF, one IFD): the orientation
    /// and a `Make` tag that names the phone.
    fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let make = b"SECRET-PHONE-MAKE\0";
        let mut tiff = Vec::new();
        tiff.extend(b"II*\0");
        tiff.extend(8u32.to_le_bytes());
        tiff.extend(2u16.to_le_bytes());
        // Make (0x010f), ASCII, its text after the IFD.
        let text_at = 8 + 2 + 2 * 12 + 4;
        tiff.extend(0x010fu16.to_le_bytes());
        tiff.extend(2u16.to_le_bytes());
        tiff.extend((make.len() as u32).to_le_bytes());
        tiff.extend((text_at as u32).to_le_bytes());
        // Orientation (0x0112), SHORT, in the value field.
        tiff.extend(0x0112u16.to_le_bytes());
        tiff.extend(3u16.to_le_bytes());
        tiff.extend(1u32.to_le_bytes());
        tiff.extend(u32::from(orientation).to_le_bytes());
        tiff.extend(0u32.to_le_bytes());
        tiff.extend(make);
        let mut segment = b"Exif\0\0".to_vec();
        segment.extend(tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend([0xff, 0xe1]);
        out.extend(((segment.len() + 2) as u16).to_be_bytes());
        out.extend(segment);
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn a_camera_photo_is_shrunk_turned_upright_and_stripped() {
        // A 4000×3000 landscape sensor image that the phone held upright (EXIF 6:
        // rotate 90° clockwise to show).
        let camera = camera_jpeg(4000, 3000, 6);
        assert!(camera.windows(17).any(|w| w == b"SECRET-PHONE-MAKE"));
        let prepared = prepare(&camera, &PhotoOptions::default()).unwrap();
        assert_eq!((prepared.photo.width, prepared.photo.height), (1200, 1600), "upright and shrunk");
        assert_eq!((prepared.thumbnail.width, prepared.thumbnail.height), (240, 320));
        for jpeg in [&prepared.photo.bytes, &prepared.thumbnail.bytes] {
            assert!(!jpeg.windows(4).any(|w| w == b"Exif"), "no EXIF block is written");
            assert!(!jpeg.windows(6).any(|w| w == b"SECRET"), "the phone's make is gone");
        }
        assert!(prepared.photo.bytes.len() < camera.len() / 4, "{} of {}", prepared.photo.bytes.len(), camera.len());
        assert_eq!(check_stored(&prepared.photo.bytes).unwrap(), (1200, 1600));
    }

    #[test]
    fn a_small_photo_keeps_its_size() {
        let prepared = prepare(&camera_jpeg(640, 480, 1), &PhotoOptions::default()).unwrap();
        assert_eq!((prepared.photo.width, prepared.photo.height), (640, 480));
    }

    #[test]
    fn what_is_not_a_photo_is_refused_before_decoding() {
        let code = |bytes: &[u8]| prepare(bytes, &PhotoOptions::default()).unwrap_err().to_string();
        assert!(code(b"GIF89a not a photo").contains("photo"));
        assert!(code(b"").contains("photo"));
        // A PNG header declaring 60000×60000 pixels: refused from the header, nothing
        // allocated for its pixels.
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(60_000u32.to_be_bytes());
        ihdr.extend(60_000u32.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
        bomb.extend(&ihdr);
        bomb.extend(crc32(&ihdr).to_be_bytes());
        let idat = b"IDAT\x78\x9c\x03\0\0\0\0\x01";
        bomb.extend(((idat.len() - 4) as u32).to_be_bytes());
        bomb.extend(idat);
        bomb.extend(crc32(idat).to_be_bytes());
        let err = prepare(&bomb, &PhotoOptions::default()).unwrap_err();
        assert!(matches!(&err, crate::Error::Invalid(v) if v.kind == Rule::PhotoPixels { max: 48 }), "{err:?}");
        // The center takes JPEG only: a PNG is not what a phone stores.
        let mut png = Vec::new();
        image::RgbImage::new(8, 8).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        assert!(check_stored(&png).is_err());
    }

    /// CRC-32 (ISO 3309), as PNG chunks carry it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
