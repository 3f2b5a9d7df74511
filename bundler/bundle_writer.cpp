#include "bundler/bundle_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bundler/bundle_reader.hpp"
#include "bundler/tar_writer.hpp"
#include "crypto/hash.hpp"
#include "crypto/trust_root.hpp"

namespace ferry::bundler {
namespace {

constexpr size_t kCopyBlock = 1 << 20;

Status CopyPayload(const PayloadSource& source, const TarWriter::WriteFn& write,
                   std::vector<uint8_t>& buffer, uint64_t& done,
                   const std::function<void(uint64_t, uint64_t)>& progress, uint64_t total) {
  FERRY_ASSIGN_OR_RETURN(fs::File file, fs::File::OpenRead(source.path));
  ::posix_fadvise(file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
  crypto::Sha256 hasher;
  uint64_t copied = 0;
  while (copied < source.ref.size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), source.ref.size - copied));
    FERRY_ASSIGN_OR_RETURN(const size_t n, file.Read({buffer.data(), want}));
    if (n == 0) break;
    hasher.Update(buffer.data(), n);
    FERRY_RETURN_IF_ERROR(write({buffer.data(), n}));
    copied += n;
    done += n;
    if (progress) progress(done, total);
  }
  uint8_t extra = 0;
  FERRY_ASSIGN_OR_RETURN(const size_t more, file.Read({&extra, 1}));
  if (copied != source.ref.size || more != 0 || hasher.Finish() != source.ref.sha256) {
    return IoError(source.path + ": changed while the bundle was being built");
  }
  return Ok();
}

}  // namespace

Status WriteBundle(const std::string& out_path, const BundleWriteInput& input) {
  if (fs::Exists(out_path)) {
    return IoError(out_path + ": already exists; refusing to overwrite it");
  }
  const std::string temp = out_path + ".partial." + std::to_string(::getpid());
  ::unlink(temp.c_str());
  FERRY_ASSIGN_OR_RETURN(fs::File file, fs::File::CreateNew(temp, 0644));
  const auto fail = [&](Error error) {
    ::unlink(temp.c_str());
    return error;
  };
  auto writer = TarWriter::Open(file, input.mtime);
  if (!writer.ok()) return fail(std::move(writer).error());

  for (const crypto::TrustRoot* root : input.root_chain) {
    Status added = writer->AddSmall(RootMemberName(root->version), root->text);
    if (!added.ok()) return fail(std::move(added).error());
  }
  Status added = writer->AddSmall(std::string(kManifestMember), input.manifest_text);
  if (!added.ok()) return fail(std::move(added).error());

  uint64_t total = 0;
  for (const PayloadSource& payload : input.payloads) total += payload.ref.size;
  uint64_t done = 0;
  std::vector<uint8_t> buffer(kCopyBlock);
  for (const PayloadSource& payload : input.payloads) {
    added = writer->Add(PayloadMemberName(payload.ref.sha256), payload.ref.size,
                        [&](const TarWriter::WriteFn& write) {
                          return CopyPayload(payload, write, buffer, done, input.progress, total);
                        });
    if (!added.ok()) return fail(std::move(added).error());
  }
  Status finished = writer->Finish();
  if (finished.ok()) finished = file.Sync();
  if (finished.ok()) finished = file.Close();
  if (!finished.ok()) return fail(std::move(finished).error());
  // link() rather than rename(): it refuses to replace a file that appeared meanwhile.
  if (::link(temp.c_str(), out_path.c_str()) != 0) {
    return fail(IoError(out_path + ": cannot put the finished bundle in place: " +
                        std::strerror(errno)));
  }
  ::unlink(temp.c_str());
  return fs::SyncDirectory(fs::ParentDirectory(out_path));
}

}  // namespace ferry::bundler
