#include "evidence/ustar.hpp"

#include <algorithm>
#include <cstdio>

namespace ferry::evidence {
namespace {

constexpr size_t kReadChunk = size_t{1} << 20;
constexpr size_t kWriteBuffer = size_t{1} << 20;

// Field offsets and widths of the ustar header (POSIX.1-1988).
constexpr size_t kNameAt = 0, kNameWidth = 100;
constexpr size_t kModeAt = 100, kUidAt = 108, kGidAt = 116;
constexpr size_t kSizeAt = 124, kMtimeAt = 136, kNumberWidth = 12;
constexpr size_t kChecksumAt = 148, kChecksumWidth = 8;
constexpr size_t kTypeAt = 156;
constexpr size_t kMagicAt = 257;
constexpr size_t kDevMajorAt = 329, kDevMinorAt = 337;

void PutOctal(std::string& header, size_t at, size_t width, uint64_t value) {
  // width-1 digits, zero-padded, then a NUL: the form GNU and BSD tar both read.
  char digits[32];
  std::snprintf(digits, sizeof digits, "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
  header.replace(at, width - 1, digits, width - 1);
  header[at + width - 1] = '\0';
}

std::optional<uint64_t> ReadOctal(std::string_view field) {
  // Exactly the writer's form: width-1 octal digits and a NUL.
  if (field.empty() || field.back() != '\0') return std::nullopt;
  uint64_t value = 0;
  for (const char c : field.substr(0, field.size() - 1)) {
    if (c < '0' || c > '7') return std::nullopt;
    value = value * 8 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

uint64_t Checksum(std::string_view header) {
  uint64_t sum = 0;
  for (size_t i = 0; i < header.size(); ++i) {
    const bool in_field = i >= kChecksumAt && i < kChecksumAt + kChecksumWidth;
    sum += in_field ? uint64_t{' '} : static_cast<uint8_t>(header[i]);
  }
  return sum;
}

bool IsZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
}

uint64_t PaddingFor(uint64_t size) { return (kUstarBlock - size % kUstarBlock) % kUstarBlock; }

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kUstarMaxNameBytes || name.front() == '/') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
           c == '/';
  });
}

}  // namespace

std::string UstarHeader(std::string_view name, uint64_t size, int64_t mtime) {
  std::string header(kUstarBlock, '\0');
  header.replace(kNameAt, std::min(name.size(), kNameWidth - 1), name.substr(0, kNameWidth - 1));
  PutOctal(header, kModeAt, 8, 0644);
  PutOctal(header, kUidAt, 8, 0);
  PutOctal(header, kGidAt, 8, 0);
  PutOctal(header, kSizeAt, kNumberWidth, size);
  PutOctal(header, kMtimeAt, kNumberWidth, static_cast<uint64_t>(std::max<int64_t>(mtime, 0)));
  header[kTypeAt] = '0';
  header.replace(kMagicAt, 8,
                 "ustar\0"
                 "00",
                 8);
  PutOctal(header, kDevMajorAt, 8, 0);
  PutOctal(header, kDevMinorAt, 8, 0);
  // The checksum field: six octal digits, a NUL and a space, as POSIX tar writes it.
  char checksum[16];
  std::snprintf(checksum, sizeof checksum, "%06llo",
                static_cast<unsigned long long>(Checksum(header)));
  header.replace(kChecksumAt, 6, checksum, 6);
  header[kChecksumAt + 6] = '\0';
  header[kChecksumAt + 7] = ' ';
  return header;
}

// ---- writer ----

UstarWriter::UstarWriter(fs::File& file, int64_t mtime) : file_(file), mtime_(mtime) {
  buffer_.reserve(kWriteBuffer);
}

UstarWriter::~UstarWriter() = default;

Status UstarWriter::Write(std::string_view bytes) {
  written_ += bytes.size();
  hash_.Update(bytes);
  if (buffer_.size() + bytes.size() > kWriteBuffer) FERRY_RETURN_IF_ERROR(Flush());
  if (bytes.size() >= kWriteBuffer) return file_.WriteAll(bytes);
  buffer_.append(bytes);
  return Ok();
}

Status UstarWriter::Flush() {
  if (buffer_.empty()) return Ok();
  Status written = file_.WriteAll(buffer_);
  buffer_.clear();
  return written;
}

Status UstarWriter::Add(std::string_view name, uint64_t size,
                        const std::function<Status(const WriteFn&)>& produce) {
  if (!IsValidName(name)) {
    return InvalidError("tar: \"" + std::string(name) + "\" is not a valid member name");
  }
  if (size > kUstarMaxMemberBytes) {
    return InvalidError("tar: " + std::string(name) + " is larger than a ustar member can be (" +
                        std::to_string(size) + " bytes)");
  }
  FERRY_RETURN_IF_ERROR(Write(UstarHeader(name, size, mtime_)));
  uint64_t done = 0;
  const WriteFn write = [&](std::string_view bytes) -> Status {
    if (done + bytes.size() > size) {
      return IoError("tar: " + std::string(name) + ": more than the " + std::to_string(size) +
                     " bytes announced");
    }
    done += bytes.size();
    return Write(bytes);
  };
  FERRY_RETURN_IF_ERROR(produce(write));
  if (done != size) {
    return IoError("tar: " + std::string(name) + ": " + std::to_string(done) +
                   " bytes written of " + std::to_string(size) + " announced");
  }
  return Write(std::string(PaddingFor(size), '\0'));
}

Status UstarWriter::AddSmall(std::string_view name, std::string_view data) {
  return Add(name, data.size(), [&](const WriteFn& write) { return write(data); });
}

Status UstarWriter::Finish() {
  FERRY_RETURN_IF_ERROR(Write(std::string(2 * kUstarBlock, '\0')));
  FERRY_RETURN_IF_ERROR(Flush());
  digest_ = hash_.Finish();
  return Ok();
}

// ---- reader ----

struct UstarReader::State {
  fs::File file;
  std::string path;
  uint64_t size = 0;
  uint64_t position = 0;  // bytes consumed from the file
  std::string chunk;
  int members = 0;
  bool finished = false;
  // The member whose data is next, if any.
  std::optional<UstarMember> current;
  bool data_read = true;

  std::string At(uint64_t offset) const { return " at offset " + std::to_string(offset); }

  // Reads exactly n bytes or explains where the file ended.
  Status ReadExact(size_t n, std::string& out, const std::string& what) {
    out.resize(n);
    size_t done = 0;
    while (done < n) {
      FERRY_ASSIGN_OR_RETURN(const size_t got,
                             file.Read({reinterpret_cast<uint8_t*>(out.data()) + done, n - done}));
      if (got == 0) {
        return InvalidError("tar: the file ends inside " + what + At(position + done) +
                            " (truncated)");
      }
      done += got;
    }
    position += n;
    return Ok();
  }
};

UstarReader::UstarReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
UstarReader::~UstarReader() = default;
UstarReader::UstarReader(UstarReader&&) noexcept = default;
UstarReader& UstarReader::operator=(UstarReader&&) noexcept = default;

Result<UstarReader> UstarReader::Open(const std::string& path) {
  auto state = std::make_unique<State>();
  state->path = path;
  FERRY_ASSIGN_OR_RETURN(state->file, fs::File::OpenRead(path));
  FERRY_ASSIGN_OR_RETURN(state->size, state->file.Size());
  return UstarReader(std::move(state));
}

uint64_t UstarReader::file_size() const { return state_->size; }

Result<std::optional<UstarMember>> UstarReader::Next() {
  State& s = *state_;
  if (s.finished) return std::optional<UstarMember>();
  if (!s.data_read) return IoError("tar: Next() before the member's data was read");
  const uint64_t header_at = s.position;
  std::string header;
  if (header_at == s.size) {
    return InvalidError("tar: the file ends after " + std::to_string(s.members) +
                        " member(s) without the end-of-archive marker (truncated)");
  }
  FERRY_RETURN_IF_ERROR(
      s.ReadExact(kUstarBlock, header, "the header of member " + std::to_string(s.members + 1)));
  if (IsZero(header)) {
    std::string second;
    FERRY_RETURN_IF_ERROR(s.ReadExact(kUstarBlock, second, "the end-of-archive marker"));
    if (!IsZero(second)) {
      return InvalidError("tar: the end-of-archive marker" + s.At(header_at) +
                          " is damaged (a non-zero byte in its second block)");
    }
    if (s.position != s.size) {
      return InvalidError("tar: " + std::to_string(s.size - s.position) +
                          " bytes of trailing data after the end-of-archive marker" +
                          s.At(s.position));
    }
    s.finished = true;
    return std::optional<UstarMember>();
  }
  UstarMember member;
  member.index = ++s.members;
  member.header_offset = header_at;
  const std::string_view view(header);
  const std::string_view name_field = view.substr(kNameAt, kNameWidth);
  member.name = std::string(name_field.substr(0, std::min(name_field.find('\0'), kNameWidth)));
  const std::string label = "tar: header of member " + std::to_string(member.index) +
                            (IsValidName(member.name) ? " (" + member.name + ")" : "") +
                            s.At(header_at);
  const auto size = ReadOctal(view.substr(kSizeAt, kNumberWidth));
  const auto mtime = ReadOctal(view.substr(kMtimeAt, kNumberWidth));
  if (!IsValidName(member.name)) return InvalidError(label + ": the name is not a package name");
  if (!size || !mtime) return InvalidError(label + ": size or time is not an octal number");
  member.size = *size;
  member.mtime = static_cast<int64_t>(*mtime);
  const std::string expected = UstarHeader(member.name, member.size, member.mtime);
  if (header != expected) {
    const auto stored = ReadOctal(view.substr(kChecksumAt, 7));
    if (!stored || *stored != Checksum(header)) {
      return InvalidError(label + ": the checksum does not match (damaged header)");
    }
    size_t at = 0;
    while (header[at] == expected[at]) ++at;
    return InvalidError(label + ": byte " + std::to_string(at) +
                        " differs from the package's canonical header");
  }
  if (member.size > s.size - s.position) {
    return InvalidError(label + ": declares " + std::to_string(member.size) +
                        " bytes, more than the rest of the file holds (truncated)");
  }
  s.current = member;
  s.data_read = false;
  return std::optional<UstarMember>(std::move(member));
}

Status UstarReader::ReadData(const std::function<Status(std::string_view)>& consume) {
  State& s = *state_;
  if (!s.current || s.data_read) return IoError("tar: ReadData() without a current member");
  const UstarMember& member = *s.current;
  uint64_t left = member.size;
  while (left > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kReadChunk));
    FERRY_RETURN_IF_ERROR(s.ReadExact(n, s.chunk, member.name));
    left -= n;
    FERRY_RETURN_IF_ERROR(consume(s.chunk));
  }
  std::string padding;
  const uint64_t padding_at = s.position;
  FERRY_RETURN_IF_ERROR(s.ReadExact(static_cast<size_t>(PaddingFor(member.size)), padding,
                                    "padding of " + member.name));
  if (!IsZero(padding)) {
    const size_t at = padding.find_first_not_of('\0');
    return InvalidError("tar: a non-zero byte in the padding after " + member.name +
                        s.At(padding_at + at));
  }
  s.data_read = true;
  return Ok();
}

Result<std::string> UstarReader::ReadSmall(size_t max_bytes) {
  if (!state_->current) return IoError("tar: ReadSmall() without a current member");
  if (state_->current->size > max_bytes) {
    return InvalidError("tar: " + state_->current->name + " holds " +
                        std::to_string(state_->current->size) + " bytes, more than the " +
                        std::to_string(max_bytes) + " it may");
  }
  std::string out;
  out.reserve(static_cast<size_t>(state_->current->size));
  FERRY_RETURN_IF_ERROR(ReadData([&](std::string_view bytes) {
    out.append(bytes);
    return Ok();
  }));
  return out;
}

}  // namespace ferry::evidence
