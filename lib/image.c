/* image — see image.h. */
#include "lib/image.h"

#include <stdbool.h>
#include <string.h>

static uint32_t image_be16(const unsigned char *p)
{
	return ((uint32_t)p[0] << 8) | p[1];
}

static uint32_t image_be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint32_t image_le16(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t image_le24(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}

static uint32_t image_le32(const unsigned char *p)
{
	return image_le24(p) | ((uint32_t)p[3] << 24);
}

/*
 * PNG: the 8-byte signature, then the IHDR chunk, which must come first: length 13,
 * width and height (big-endian, at most 2^31 - 1), a bit depth allowed for the colour
 * type, compression 0, filter 0, interlace 0 or 1.
 */
static int image_png(const unsigned char *d, size_t len, struct image_info *out)
{
	unsigned depth, color;
	bool ok;

	if (len < 8 + 8 + 13 || image_be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0)
		return -1;
	out->width = image_be32(d + 16);
	out->height = image_be32(d + 20);
	if (out->width > 0x7fffffffu || out->height > 0x7fffffffu)
		return -1;
	depth = d[24];
	color = d[25];
	switch (color) {
	case 0: /* grey */
		ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
		break;
	case 3: /* palette */
		ok = depth == 1 || depth == 2 || depth == 4 || depth == 8;
		break;
	case 2: /* RGB */
	case 4: /* grey + alpha */
	case 6: /* RGBA */
		ok = depth == 8 || depth == 16;
		break;
	default:
		ok = false;
	}
	if (!ok || d[26] != 0 || d[27] != 0 || d[28] > 1)
		return -1;
	return 0;
}

/* The start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
static bool image_jpeg_sof(unsigned m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/*
 * JPEG: SOI, then marker segments up to the first start-of-frame, whose header gives the
 * height and width.  Fill bytes (0xFF runs) are skipped; markers without a length (TEM,
 * RSTn) are stepped over; EOI or start-of-scan before any frame header, a segment running
 * past the data or a frame header of the wrong length is a broken file.
 */
static int image_jpeg(const unsigned char *d, size_t len, struct image_info *out)
{
	size_t pos = 2;

	while (pos < len) {
		unsigned m;
		size_t seg;

		if (d[pos] != 0xff)
			return -1;
		while (pos < len && d[pos] == 0xff)
			pos++;
		if (pos >= len)
			return -1;
		m = d[pos++];
		if (m == 0x01 || (m >= 0xd0 && m <= 0xd7))
			continue;
		if (m == 0x00 || m == 0xd8 || m == 0xd9 || m == 0xda)
			return -1;
		if (len - pos < 2)
			return -1;
		seg = image_be16(d + pos);
		if (seg < 2 || seg > len - pos)
			return -1;
		if (image_jpeg_sof(m)) {
			unsigned ncomp;

			if (seg < 8)
				return -1;
			ncomp = d[pos + 7];
			if (ncomp < 1 || ncomp > 4 || seg != 8 + 3 * (size_t)ncomp)
				return -1;
			if (d[pos + 2] != 8 && d[pos + 2] != 12 && d[pos + 2] != 16)
				return -1;
			out->height = image_be16(d + pos + 3);
			out->width = image_be16(d + pos + 5);
			return 0;
		}
		pos += seg;
	}
	return -1;
}

/*
 * WebP: "RIFF" <size> "WEBP", then the first chunk decides.
 *   VP8  (lossy): a key-frame tag, the start code 9D 01 2A, 14-bit width and height.
 *   VP8L (lossless): the signature byte 0x2F, then 14-bit width - 1 and height - 1 and a
 *        3-bit version that must be 0.
 *   VP8X (extended): 24-bit canvas width - 1 and height - 1.
 */
static int image_webp(const unsigned char *d, size_t len, struct image_info *out)
{
	uint32_t csize, bits;

	if (len < 20 || memcmp(d + 8, "WEBP", 4) != 0 || image_le32(d + 4) < 4 + 8)
		return -1;
	csize = image_le32(d + 16);
	if (memcmp(d + 12, "VP8 ", 4) == 0) {
		if (len < 30 || csize < 10 || (d[20] & 1) != 0 || d[23] != 0x9d || d[24] != 0x01 ||
		    d[25] != 0x2a)
			return -1;
		out->width = image_le16(d + 26) & 0x3fff;
		out->height = image_le16(d + 28) & 0x3fff;
		return 0;
	}
	if (memcmp(d + 12, "VP8L", 4) == 0) {
		if (len < 25 || csize < 5 || d[20] != 0x2f)
			return -1;
		bits = image_le32(d + 21);
		if ((bits >> 29) != 0)
			return -1;
		out->width = (bits & 0x3fff) + 1;
		out->height = ((bits >> 14) & 0x3fff) + 1;
		return 0;
	}
	if (memcmp(d + 12, "VP8X", 4) == 0) {
		if (len < 30 || csize < 10)
			return -1;
		out->width = image_le24(d + 24) + 1;
		out->height = image_le24(d + 27) + 1;
		return 0;
	}
	return -1;
}

int image_probe(const unsigned char *data, size_t len, struct image_info *out)
{
	static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	struct image_info info = {.type = IMAGE_NONE};
	int rc = -1;

	if (data != NULL && len >= 8 && memcmp(data, png_sig, 8) == 0) {
		info.type = IMAGE_PNG;
		info.mime = "image/png";
		info.ext = "png";
		rc = image_png(data, len, &info);
	} else if (data != NULL && len >= 3 && data[0] == 0xff && data[1] == 0xd8 &&
	           data[2] == 0xff) {
		info.type = IMAGE_JPEG;
		info.mime = "image/jpeg";
		info.ext = "jpg";
		rc = image_jpeg(data, len, &info);
	} else if (data != NULL && len >= 12 && memcmp(data, "RIFF", 4) == 0 &&
	           memcmp(data + 8, "WEBP", 4) == 0) {
		info.type = IMAGE_WEBP;
		info.mime = "image/webp";
		info.ext = "webp";
		rc = image_webp(data, len, &info);
	}
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		out->type = IMAGE_NONE;
		return -1;
	}
	*out = info;
	if (info.width == 0 || info.height == 0 ||
	    (uint64_t)info.width * info.height > (uint64_t)IMAGE_MAX_PIXELS)
		return -2;
	return 0;
}
